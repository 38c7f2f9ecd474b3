"""``make gradescope-e2e``: the Gradescope and student set-ups, proven from a bare Debian image.

Why: the fast tests run setup.sh in a simulated root with ``SELAB_SKIP_INSTALL=1``; this script runs
the real one on a root file system that starts with nothing of ours (Debian minbase + python3, made
by ``mmdebstrap``), then grades submissions under Gradescope's default container limits (a memory
cgroup of 768 MB, one CPU) and runs the student's path (handout, venv, pip, pytest) in the same image.

How the image runs: bubblewrap, as root, is the container runner (``bwrap --bind ROOTFS / --proc
--dev --unshare-pid --unshare-ipc --unshare-uts --cap-add ALL``), Docker-like: the image's own
file system as /, its own PID 1, root with every capability. Grading also gets ``--unshare-net``
(nothing may be downloaded at grading time). Limits: the bwrap process is put in a fresh cgroup made by
the grader's own layer (grader/sandbox/cgroup.py, v1 or v2) with Gradescope's memory limit (swap
excluded) and a quota of one CPU, and pinned to CPU 0 with ``taskset``; the peak is the cgroup's own
(``memory.max_usage_in_bytes`` / ``memory.peak``, page cache included, as Gradescope's limit counts it).

Offline torch: Gradescope's default TORCH_INDEX_URL (PyTorch's CPU index) is not reachable here, so
the script builds the same kind of index (torch's CPU wheel from /opt/wheels plus its dependencies,
fetched once from PyPI with ``pip download``) as a file:// PEP 503 index and binds it into the image.
The bare rootfs tarball and the wheels are cached in dist/e2e/cache (gitignored, rebuilt when absent).

Prints one PASS/FAIL line per check, a summary table and, last, ``N passed, M failed`` (exit 1 if M > 0).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import jsonschema  # noqa: E402

from grader.config import load_config  # noqa: E402
from grader.sandbox.cgroup import Cgroup  # noqa: E402
from grader.sandbox.cgroup import Limits as CgroupLimits  # noqa: E402
from tests.hostile.uploads import BUILDERS, UploadContext  # noqa: E402
from tests.packaging.helpers import class_scores, grader_files_probe  # noqa: E402

SUITE = "bookworm"  # Python 3.11: the release for which a CPU torch wheel is on this machine (docs/maintainers.md)
MIRROR = "http://deb.debian.org/debian"
MEMORY_LIMIT = 768 * 1000 * 1000  # Gradescope's default: 768 MB
GRADING_TIMEOUT_S = 600  # Gradescope's default autograder timeout: 10 minutes
SCHEMA = REPO / "grader/packaging/gradescope-results.schema.json"
CORPUS = tomllib.loads((REPO / "tests/corpus/manifest.toml").read_text())
HOSTILE = tomllib.loads((REPO / "tests/hostile/manifest.toml").read_text())
BUGGY = ("se_no_sigmoid", "attn_no_residual")  # core-tier corpus bugs, one per attention family
HOSTILE_ENTRY = "zip_extras"  # a zip upload full of files that would run code if anything but models.py ran
CANARY_DIR = "/autograder/selab-canaries"  # inside the image, world-writable
READER = grader_files_probe("/autograder")  # pasted after the reference (tests/packaging/helpers.py)
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


@dataclass
class Report:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return bool(ok)


def log(message: str) -> None:
    print(f"[e2e] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kwargs)


# --- the image ------------------------------------------------------------------------------------

def bare_rootfs_tar(cache: Path) -> Path:
    """Debian minbase + python3 as a tarball, built with mmdebstrap once and cached."""
    tar = cache / f"debian-{SUITE}-minbase-python3.tar"
    if tar.is_file():
        log(f"bare rootfs: cached {tar.relative_to(REPO)}")
        return tar
    log(f"bare rootfs: mmdebstrap --variant=minbase --include=python3 {SUITE}")
    partial = tar.with_suffix(".partial.tar")
    done = run(["mmdebstrap", "--quiet", "--variant=minbase", "--include=python3", "--format=tar",
                SUITE, str(partial), MIRROR])
    if done.returncode != 0:
        raise SystemExit(f"mmdebstrap failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    partial.rename(tar)
    return tar


def torch_index(cache: Path) -> tuple[Path, Path]:
    """A PEP 503 index like PyTorch's CPU one: /opt/wheels' CPU torch plus its dependencies from PyPI.

    Returns (index root, the torch wheel)."""
    wheel = sorted(Path("/opt/wheels").glob(f"torch-*+cpu-cp{sys.version_info.major}{sys.version_info.minor}-*.whl"))
    if not wheel:
        raise SystemExit("no CPU torch wheel for this Python in /opt/wheels")
    wheel = wheel[-1]
    files = cache / "torch-wheels"
    files.mkdir(parents=True, exist_ok=True)
    if not (files / wheel.name).exists():
        try:
            os.link(wheel, files / wheel.name)
        except OSError:
            shutil.copy2(wheel, files / wheel.name)
    if not (files / ".complete").exists():
        log("torch index: pip download of torch's dependencies from PyPI")
        done = run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(files),
                    str(files / wheel.name)])
        if done.returncode != 0:
            raise SystemExit(f"pip download failed:\n{done.stderr[-3000:]}")
        (files / ".complete").write_text("")
    index = cache / "torch-index"
    shutil.rmtree(index, ignore_errors=True)
    for path in sorted(files.glob("*.whl")):
        project = re.sub(r"[-_.]+", "-", path.name.split("-")[0]).lower()
        folder = index / "simple" / project
        folder.mkdir(parents=True, exist_ok=True)
        os.link(path, folder / path.name) if path.stat().st_dev == folder.stat().st_dev else shutil.copy2(path, folder)
        page = folder / "index.html"
        links = page.read_text() if page.exists() else ""
        page.write_text(links + f'<a href="{html.escape(path.name)}">{html.escape(path.name)}</a><br>\n')
    return index, wheel


class Image:
    """The unpacked root file system and how to run a command in it, container-like."""

    def __init__(self, rootfs: Path, binds: list[tuple[str, str, bool]]):
        self.rootfs = rootfs
        self.binds = binds  # (host path, path in the image, read-only)

    def command(self, script: str, *, net: bool = True, cwd: str = "/", user_env: dict | None = None,
                without_bwrap: bool = False) -> list[str]:
        cmd = ["bwrap", "--bind", str(self.rootfs), "/", "--proc", "/proc", "--dev", "/dev",
               "--ro-bind", "/sys", "/sys", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--hostname", "gradescope-e2e", "--die-with-parent", "--cap-add", "ALL", "--clearenv",
               "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8", "--chdir", cwd]
        if net:
            cmd += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
            if Path(HOST_CA).is_file():  # this machine reaches PyPI through a TLS proxy with its own CA
                cmd += ["--ro-bind", HOST_CA, "/etc/selab-host-ca.crt", "--setenv", "PIP_CERT", "/etc/selab-host-ca.crt"]
        else:
            cmd += ["--unshare-net"]
        for host, inside, read_only in self.binds:
            cmd += ["--ro-bind" if read_only else "--bind", host, inside]
        if without_bwrap:  # a container where bubblewrap cannot run (e.g. user namespaces refused)
            cmd += ["--ro-bind", "/bin/false", "/usr/bin/bwrap"]
        for key, value in (user_env or {}).items():
            cmd += ["--setenv", key, value]
        return cmd + ["/bin/bash", "-c", script]

    def size_mb(self) -> float:
        done = run(["du", "-sx", "--block-size=1", str(self.rootfs)])
        return int(done.stdout.split()[0]) / 1e6


# --- Gradescope's limits --------------------------------------------------------------------------

class Limits:
    """Gradescope's memory and CPU limits for one run, through the grader's own cgroup layer (v1 or v2);
    ``wrap`` puts the command in the group, pinned to CPU 0."""

    def __init__(self, name: str):
        self.group = Cgroup.create(name, CgroupLimits(memory_bytes=MEMORY_LIMIT, cpus=1.0))
        if self.group is None:
            raise SystemExit("gradescope-e2e needs memory and cpu cgroups the grader may create (root, cgroup v1 or v2)")

    def wrap(self, cmd: list[str]) -> list[str]:
        return self.group.wrap(["taskset", "-c", "0", *cmd])

    def peak_mb(self) -> float:
        return self.group.peak_bytes() / 1e6

    def oom_kills(self) -> int:
        return self.group.oom_kills()

    def close(self) -> None:
        self.group.remove()


# --- submissions ----------------------------------------------------------------------------------

NO_BWRAP = "hostile/reads_grader_files-no-bwrap"


def submissions() -> list[tuple[str, dict[str, bytes]]]:
    """(name, files of /autograder/submission) in grading order; a zip upload is unpacked as Gradescope does."""
    hollow = (REPO / "tests/hostile/bases/hollow.py").read_text()
    reference = (REPO / "reference/models.py").read_text()
    chosen = [("reference", {"models.py": reference.encode()}),
              ("stubs", {"models.py": (REPO / "assignment/models.py").read_bytes()})]
    for bug in BUGGY:
        chosen.append((f"buggy/{bug}", {"models.py": (REPO / f"tests/corpus/submissions/buggy/{bug}.py").read_bytes()}))
    entry = HOSTILE[HOSTILE_ENTRY]
    twin = entry["twin"]
    chosen.append((f"twin/{twin}", {"models.py": {"hollow": hollow, "reference": reference}[twin].encode()}))
    upload = REPO / "dist/e2e/upload.zip"
    context = UploadContext(HOSTILE_ENTRY, Path(CANARY_DIR), Path("/nonexistent-throwaway"), hollow, reference)
    BUILDERS[entry["zip"]](upload, hollow, context)
    with zipfile.ZipFile(upload) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    chosen.append((f"hostile/{HOSTILE_ENTRY}", files))
    # The reference plus a probe at import that fails the import (score 0) if it can read /autograder/source.
    chosen.append(("hostile/reads_grader_files", {"models.py": (reference + READER).encode()}))
    # The same in a container where bubblewrap cannot run: the grader must fall back to the sandbox user.
    chosen.append((NO_BWRAP, {"models.py": (reference + READER).encode()}))
    return chosen


def expectation(name: str, doc: dict, scores: dict[str, float]) -> tuple[bool, str]:
    """Whether results.json has the expected score, and what was observed."""
    config = load_config()
    full = {cls: config.class_points(cls) for cls in scores}
    observed = f"score {doc.get('score')}, per class {scores}"
    if name == NO_BWRAP:
        text = json.dumps(doc)
        leaks = [word for word in ("LEAK", "PROBE-BROKEN") if word in text]
        fallback = "Protection in force: sandbox user" in doc.get("output", "")
        return doc["score"] == config.total_points and not leaks and fallback, (
            f"expected {config.total_points} with 'Protection in force: sandbox user' ({fallback}); "
            f"markers {leaks}; {observed}")
    if name == "hostile/reads_grader_files":
        text = json.dumps(doc)
        leaks = [word for word in ("LEAK", "PROBE-BROKEN") if word in text]
        return doc["score"] == config.total_points and not leaks, (
            f"expected {config.total_points} (every read of /autograder/source refused or absent); "
            f"markers {leaks}; {observed}")
    if name == "reference":
        return doc["score"] == config.total_points, f"expected {config.total_points}; {observed}"
    if name == "stubs":
        said = all("not implemented yet" in t.get("output", "") for t in doc["tests"])
        return doc["score"] == 0 and said, f"expected 0, every test 'not implemented yet' ({said}); {observed}"
    if name.startswith("buggy/"):
        entry = CORPUS["buggy"][name.split("/", 1)[1]]
        ok = all(scores[c] < full[c] for c in entry["loses"]) and all(scores[c] == full[c] for c in entry["keeps"])
        return ok, f"expected loses {entry['loses']} and keeps {entry['keeps']} (tests/corpus/manifest.toml); {observed}"
    return True, observed


# --- the run --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "dist/e2e")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("gradescope-e2e needs root (mmdebstrap, cgroups, the container)")
    for tool in ("mmdebstrap", "bwrap", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"gradescope-e2e needs {tool} (apt-get install mmdebstrap bubblewrap util-linux)")
    report = Report()
    cache = args.work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    log("building dist/autograder.zip and dist/handout.zip")
    for kind, out in (("autograder", "dist/autograder.zip"), ("handout", "dist/handout.zip")):
        done = run([sys.executable, "-m", "grader", kind, "--out", out], cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"python -m grader {kind} failed:\n{done.stdout}\n{done.stderr}")

    started = time.monotonic()
    tar = bare_rootfs_tar(cache)
    index, torch_wheel = torch_index(cache)
    rootfs = args.work / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.mkdir()
    run(["tar", "-xf", str(tar), "-C", str(rootfs)], check=True)
    pip_cache = cache / "pip"
    pip_cache.mkdir(exist_ok=True)
    pip_cache.chmod(0o777)
    binds = [(str(index), "/opt/selab-torch-index", True), (str(pip_cache), "/var/cache/selab-pip", False),
             ("/opt/wheels", "/opt/selab-wheels", True)]
    image = Image(rootfs, binds)
    bare_mb = image.size_mb()
    report.check("bare image has no venv, bubblewrap or torch",
                 run(image.command("python3 -c 'import ensurepip' 2>/dev/null || command -v bwrap || "
                                   "python3 -c 'import torch' 2>/dev/null || exit 0; exit 1")).returncode == 0,
                 f"{SUITE} minbase + python3, {bare_mb:.0f} MB")

    # Gradescope: unzip into /autograder/source, run setup.sh as root, copy run_autograder.
    source = rootfs / "autograder/source"
    source.mkdir(parents=True)
    with zipfile.ZipFile(REPO / "dist/autograder.zip") as archive:
        for info in archive.infolist():
            archive.extract(info, source)
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                (source / info.filename).chmod(mode & 0o777)
    env = {"TORCH_INDEX_URL": "file:///opt/selab-torch-index/simple", "PIP_CACHE_DIR": "/var/cache/selab-pip",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    log("setup.sh (apt, venv, torch, requirements)")
    setup_started = time.monotonic()
    setup = run(image.command("cd /autograder/source && bash ./setup.sh && cp run_autograder /autograder/run_autograder"
                              " && chmod 755 /autograder/run_autograder", user_env=env))
    setup_s = time.monotonic() - setup_started
    (args.work / "setup.log").write_text(setup.stdout + setup.stderr)
    if not report.check("setup.sh installs everything on the bare image", setup.returncode == 0,
                        f"exit {setup.returncode}, {setup_s:.0f} s" + ("" if setup.returncode == 0 else "\n" + (setup.stdout + setup.stderr)[-3000:])):
        return finish(report, setup_s, bare_mb, None)
    image_mb = image.size_mb()
    probe = run(image.command("bwrap --ro-bind / / --proc /proc --dev /dev --unshare-pid true && echo root-ok; "
                              "runuser -u selab-sandbox -- bwrap --ro-bind / / --unshare-user --unshare-pid true "
                              "&& echo user-ok", net=False))
    log(f"nested bwrap in the container: as root {'works' if 'root-ok' in probe.stdout else 'refused'}; "
        f"as the sandbox user {'works' if 'user-ok' in probe.stdout else 'refused'} ({probe.stderr.strip()[:200]})")

    limits = Limits(f"selab-e2e-{os.getpid()}-probe")
    hog = run(limits.wrap(image.command(
        "/opt/selab-venv/bin/python -c 'import os; print(\"cpus\", sorted(os.sched_getaffinity(0)), flush=True); "
        "b = bytearray(1_000_000_000); b[::4096] = b\"x\" * len(b[::4096]); print(\"survived\")'", net=False)))
    kills = limits.oom_kills()
    limits.close()
    report.check("limits bite: 1 GB allocated in the container is OOM-killed; affinity is one CPU",
                 "survived" not in hog.stdout and kills >= 1 and "cpus [0]" in hog.stdout,
                 f"exit {hog.returncode}, {kills} OOM kills, {hog.stdout.strip()}")

    canaries = rootfs / CANARY_DIR.lstrip("/")
    canaries.mkdir(parents=True)
    canaries.chmod(0o1777)
    scores: dict[str, float] = {}
    for name, files in submissions():
        submission = rootfs / "autograder/submission"
        shutil.rmtree(submission, ignore_errors=True)
        for relative, content in files.items():
            (submission / relative).parent.mkdir(parents=True, exist_ok=True)
            (submission / relative).write_bytes(content)
        shutil.rmtree(rootfs / "autograder/results", ignore_errors=True)
        (rootfs / "autograder/results").mkdir()  # Gradescope's harness makes it and captures stdout there
        results = rootfs / "autograder/results/results.json"
        limits = Limits(f"selab-e2e-{os.getpid()}-{len(scores)}")
        log(f"grading {name}")
        began = time.monotonic()
        try:
            graded = run(limits.wrap(image.command("/autograder/run_autograder > /autograder/results/stdout 2>&1",
                                                   net=False, cwd="/autograder", without_bwrap=name == NO_BWRAP)), timeout=GRADING_TIMEOUT_S)
            status, graded_stderr = graded.returncode, graded.stderr
        except subprocess.TimeoutExpired:
            status, graded_stderr = "timeout", ""
        wall = time.monotonic() - began
        peak, ooms = limits.peak_mb(), limits.oom_kills()
        limits.close()
        doc = json.loads(results.read_text()) if results.is_file() else None
        errors = sorted(validator.iter_errors(doc), key=str) if doc is not None else []
        stdout = rootfs / "autograder/results/stdout"
        (args.work / f"grade-{name.replace('/', '-')}.log").write_text(
            (stdout.read_text(errors="replace") if stdout.is_file() else "") + graded_stderr)
        found = re.search(r"Protection in force: ([^\n]*)", doc.get("output", "")) if doc else None
        report.rows.append((name, f"{doc['score']:g}" if doc else "-", f"{wall:.1f}", f"{peak:.0f}",
                            found.group(1)[:60] if found else "?"))
        ok = report.check(f"{name}: run_autograder exits 0, results.json valid for Gradescope, no OOM kill",
                          status == 0 and doc is not None and not errors and ooms == 0
                          and "unsafe" not in report.rows[-1][4].lower(),
                          f"exit {status}, {len(errors)} schema errors {[e.message for e in errors[:3]]}, {ooms} OOM kills")
        if not ok or doc is None:
            continue
        scores[name] = doc["score"]
        good, detail = expectation(name, doc, class_scores(doc))
        if name == f"hostile/{HOSTILE_ENTRY}":
            twin = f"twin/{HOSTILE[HOSTILE_ENTRY]['twin']}"
            notes = sorted(p.name for p in canaries.iterdir())
            good = doc["score"] == scores.get(twin) and not notes and "SELAB-CANARY" not in json.dumps(doc)
            detail = f"expected its twin's score {scores.get(twin)}, no canary ran; score {doc['score']}, canaries {notes}"
        report.check(f"{name}: expected score", good, detail)

    student_s = student_path(image, report, torch_wheel)
    return finish(report, setup_s, bare_mb, image_mb, time.monotonic() - started, student_s)


STUDENT = r"""
set -e
id -u student >/dev/null 2>&1 || useradd --create-home --shell /bin/bash student
cp /autograder/handout.zip /home/student/ && chown student /home/student/handout.zip
runuser -u student -- env HOME=/home/student PIP_CERT=/etc/selab-host-ca.crt PIP_FIND_LINKS=/opt/selab-wheels PIP_CONSTRAINT=/tmp/torch-pin.txt \
    PIP_CACHE_DIR=/var/cache/selab-pip PIP_DISABLE_PIP_VERSION_CHECK=1 bash -c '
set -e
cd ~ && rm -rf channel-attention-lab && python3 -m zipfile -e handout.zip . && cd channel-attention-lab
python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=/tmp/stubs.xml > /tmp/stubs.log 2>&1; echo "stubs exit $?"
cp /autograder/reference-models.py assignment/models.py
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=/tmp/reference.xml > /tmp/reference.log 2>&1; echo "reference exit $?"
.venv/bin/python -c "import sys, torch; print(\"python\", sys.version.split()[0], \"torch\", torch.__version__)"
'
"""


def student_path(image: Image, report: Report, torch_wheel: Path) -> float:
    """Handout -> venv -> pip install -r requirements.txt -> pytest (stubs fail, reference passes)."""
    import xml.etree.ElementTree as ET

    shutil.copy(REPO / "dist/handout.zip", image.rootfs / "autograder/handout.zip")
    shutil.copy(REPO / "reference/models.py", image.rootfs / "autograder/reference-models.py")
    version = torch_wheel.name.split("-")[1].split("+")[0]
    # Only this machine needs it: pins torch to the local CPU wheel (PyPI's default is a multi-GB CUDA build).
    (image.rootfs / "tmp/torch-pin.txt").write_text(f"torch=={version}\n")
    log("student path (handout, venv, pip install -r requirements.txt, pytest)")
    began = time.monotonic()
    done = run(image.command(STUDENT))
    took = time.monotonic() - began
    (image.rootfs.parent / "student.log").write_text(done.stdout + done.stderr)
    if not report.check("student: venv and pip install -r requirements.txt", done.returncode == 0 and "stubs exit" in done.stdout,
                        f"exit {done.returncode}, {took:.0f} s; {done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else done.stderr[-1500:]}"):
        return took

    def cases(xml: str) -> list[tuple[str, str]]:
        path = image.rootfs / "tmp" / xml
        if not path.is_file():
            return []
        outcome = []
        for case in ET.parse(path).getroot().iter("testcase"):
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            skipped = case.find("skipped") is not None
            outcome.append((case.get("name"), "skipped" if skipped else
                            ("passed" if bad is None else (bad.get("message", "") + (bad.text or "")))))
        return outcome

    stubs, reference = cases("stubs.xml"), cases("reference.xml")
    unsaid = [n for n, r in stubs if r == "passed" or "not implemented yet" not in r]
    report.check("student: pytest on the stubs exits 1, every public test fails with 'not implemented yet'",
                 "stubs exit 1" in done.stdout and stubs and not unsaid,
                 f"{len(stubs)} tests; not saying it: {unsaid[:5]}")
    failing = [n for n, r in reference if r != "passed"]
    report.check("student: pytest with reference/models.py dropped in passes",
                 "reference exit 0" in done.stdout and reference and not failing,
                 f"{len(reference)} tests; not passing: {failing[:5]}; {done.stdout.strip().splitlines()[-1]}")
    return took


def finish(report: Report, setup_s: float, bare_mb: float, image_mb: float | None,
           total_s: float | None = None, student_s: float | None = None) -> int:
    print()
    print(f"Debian {SUITE} (python3 of the release), limits: memory {MEMORY_LIMIT / 1e6:.0f} MB, 1 CPU")
    print(f"{'setup.sh':<28} {setup_s:>8.0f} s")
    print(f"{'image size (bare -> set up)':<28} {bare_mb:>8.0f} MB -> {image_mb or 0:.0f} MB")
    if student_s is not None:
        print(f"{'student path':<28} {student_s:>8.0f} s")
    if total_s is not None:
        print(f"{'whole run':<28} {total_s:>8.0f} s")
    print(f"\n{'submission':<36} {'score':>6} {'wall s':>8} {'peak MB':>8}  protection in force")
    for name, score, wall, peak, protection in report.rows:
        print(f"{name:<36} {score:>6} {wall:>8} {peak:>8}  {protection}")
    failed = sum(1 for _, ok, _ in report.checks if not ok)
    print(f"{len(report.checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
