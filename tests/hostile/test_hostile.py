"""Meta-test: hostile submissions earn nothing they did not earn and cannot break grading (issue 5).

Each entry of manifest.toml is built at run time (kit + attack + base, optionally zipped), then
graded with ``python -m grader grade`` from its OWN throwaway copy of the repository (so attacks
on the grader's files only ever reach a copy), under shortened limits given through the grader's
``--config`` override. After each call the test checks the entry's expected outcome and the
common ones: exit 0 and a valid, small results.json nothing rewrites later; no process of the
entry left (run token in a command line or process name, or an orphan re-parented to this test,
which is a child subreaper while the campaign runs); no canary (code that must never run) and no
leak note (a grader file read or written); the copy and the real repository unchanged (hashes).
Entries run HOSTILE_JOBS at a time (except "exclusive" ones). A table and the figures (entries,
outcomes, worst-case time, peak memory, processes left) are printed for the CI log. A last test
grades three of the attacks through the real Gradescope ``run_autograder`` in a simulated root.
"""

from __future__ import annotations

import base64
import ctypes
import gzip
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import reaper
from grader.sandbox.process import CONCURRENT_VAR
from tests.corpus.grading import (INTERNAL_ERROR, REPO, TOTAL_POINTS, GradeRun, environment_for_grader,
                                  failing_outputs, grade, grader_missing, show)
from tests.hostile.uploads import BUILDERS, UploadContext

HERE = Path(__file__).resolve().parent
MANIFEST = tomllib.loads((HERE / "manifest.toml").read_text())
ENTRIES = sorted(MANIFEST)
KIT = (HERE / "attacks" / "_kit.py").read_text()
BASES = {"reference": (REPO / "reference" / "models.py").read_text(), "hollow": (HERE / "bases" / "hollow.py").read_text(),
         "none": ""}
#: What each entry is graded from: the parts of the repository the grader needs (copied per entry).
REPO_PARTS = ("grader", "reference", "assignment")
#: The real repository's files whose hashes must not change during the campaign.
GUARDED = ("grader", "reference", "assignment", "tests")
#: The campaign's configuration, merged over grader/config.toml with --config (the grader's own override
#: mechanism). Shorter time limits, so hangs cost less; and a smaller short-training budget with
#: thresholds lowered to match (the reference reaches 0.58-0.73 on it over seeds 0-2): this campaign
#: tests robustness, not calibration, and every verdict is compared with twins graded the same way.
HOSTILE_CONFIG = {
    "limits": {"check_seconds": 5, "training_seconds": 30, "import_seconds": 20, "submission_seconds": 180},
    "training": {"train_images": 1024, "test_images": 1000,
                 "threshold": {"CNN_Base": 0.45, "CNN_SE": 0.45, "CNN_SelfAttention": 0.45}},
}
MAX_RESULTS_BYTES = 1 << 20
#: Gradings at once. Three on two cores: most slow entries spend their time waiting for a deadline.
HOSTILE_JOBS = 3
FMNIST = Path("/usr/share/datasets/fashion-mnist")
PR_SET_CHILD_SUBREAPER = 36


# ------------------------------------------------------------------------------------------ helpers
def grader_limits() -> dict:
    """The limits the campaign runs under: grader/config.toml's [limits], then the campaign's."""
    with open(REPO / "grader" / "config.toml", "rb") as handle:
        return tomllib.load(handle)["limits"] | HOSTILE_CONFIG["limits"]


def toml_text(table: dict, prefix: str = "") -> str:
    """A (small, flat-valued) nested dict as TOML: enough for the campaign's override file."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items() if not isinstance(value, dict)]
    text = (f"[{prefix}]\n" if prefix and lines else "") + "".join(line + "\n" for line in lines)
    for key, value in table.items():
        if isinstance(value, dict):
            text += toml_text(value, f"{prefix}.{key}" if prefix else key)
    return text


def tree_hashes(root: Path, parts: tuple[str, ...]) -> dict[str, str]:
    """sha256 of every file under ``root/part``, except caches and the grader's data subset (built on demand)."""
    hashes = {}
    for part in parts:
        for path in sorted((root / part).rglob("*")):
            relative = path.relative_to(root)
            if relative.parts[:2] == ("grader", "data") or {"__pycache__", ".hypothesis"} & set(relative.parts):
                continue
            if path.is_file() and not path.is_symlink():
                hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def token_processes(token: str) -> dict[int, str]:
    """Live (non-zombie) processes carrying ``token`` (an entry's, or the campaign's prefix of all of
    them) in their command line or their process name (the kit names forked daemons "slb" + token)."""
    comm = ("slb" + token)[:15]
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            if stat[stat.rfind(b")") + 2:].split()[0] == b"Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        if token in cmdline or name.startswith(comm):
            found[int(entry)] = f"{name}: {cmdline[:120]}"
    return found


def kill_processes(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def set_subreaper(on: bool) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def orphans_of_this_test() -> dict[int, str]:
    """Processes re-parented to this (subreaper) test process: escaped descendants of a grader."""
    found = {}
    for pid, stat in reaper.process_stats().items():
        if stat.ppid != os.getpid():
            continue
        if stat.state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it: an orphan that died is not left behind
            except ChildProcessError:
                pass
            continue
        found[pid] = stat.line[:120].decode(errors="replace")
    return found


def fmnist_table() -> str:
    """base64(zlib) of 3-byte background-mask hash + label for every Fashion-MNIST image (table_lookup)."""
    import zlib

    records = bytearray()
    for images_name, labels_name in (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                                     ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")):
        images = np.frombuffer(gzip.decompress((FMNIST / images_name).read_bytes()), np.uint8, offset=16).reshape(-1, 784)
        labels = np.frombuffer(gzip.decompress((FMNIST / labels_name).read_bytes()), np.uint8, offset=8)
        masks = np.packbits(images == images.min(axis=1, keepdims=True), axis=1)
        for mask, label in zip(masks, labels):
            records += hashlib.blake2b(mask.tobytes(), digest_size=3).digest() + bytes([label])
    return base64.b64encode(zlib.compress(bytes(records), 9)).decode()


# ------------------------------------------------------------------------------------------ the campaign
@dataclass
class Outcome:
    name: str
    run: GradeRun | None = None
    failures: list[str] = field(default_factory=list)
    left: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Campaign:
    token: str  # prefix of every entry's run token
    work: Path
    reports: Path
    override: Path
    limits: dict
    env: dict
    table: str | None = None


def submission_source(name: str, entry: dict, campaign: Campaign, scope: str = "all") -> str:
    attack_name = entry.get("attack", name)
    attack = "" if attack_name == "none" else (HERE / "attacks" / f"{attack_name}.py").read_text()
    if "__FMNIST_TABLE__" in attack:
        campaign.table = campaign.table or fmnist_table()
        attack = attack.replace("__FMNIST_TABLE__", campaign.table)
    kit = KIT.replace("__RUN_TOKEN__", entry_token(name, campaign)).replace("__REPORT_DIR__", str(campaign.reports)).replace("__ENTRY__", name).replace("__SCOPE__", scope)
    base = BASES[entry.get("base", "none")]
    hostile = f"{kit}\n\n# ---- attack: tests/hostile/attacks/{attack_name}.py\n{attack}"
    if not attack:
        return base
    return f"{hostile}\n\n{base}" if entry.get("position", "after") == "before" else f"{base}\n\n{hostile}"


def prepare(name: str, entry: dict, campaign: Campaign) -> tuple[Path, Path, list[Path]]:
    """The repository the entry is graded from and its submission (models.py or a zip upload).

    Usually a throwaway copy (attacks on the grader's files can only reach it). Entries that only
    READ (``repo = "real"``) are graded from the real checkout instead: a throwaway copy would leave
    the real checkout, which holds the interpreter's venv, visible beside it, a copy of the reference
    that no real deployment has. The kit never writes outside marked (throwaway) paths, and the real
    checkout's hashes are checked anyway.
    """
    folder = campaign.work / name
    folder.mkdir(parents=True)
    if entry.get("repo") == "real":
        repo = REPO
    else:
        repo = folder / "repo"
        for part in REPO_PARTS:
            shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    if "plant_copy" in entry:  # a second copy of the repository elsewhere on the disk (removed in grade_entry)
        planted = Path(tempfile.mkdtemp(prefix=f"selab-planted-{campaign.token}-", dir=entry["plant_copy"]))
        os.chmod(planted, 0o755)
        for part in REPO_PARTS:
            shutil.copytree(REPO / part, planted / part, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        (folder / "planted").write_text(str(planted))
    source = submission_source(name, entry, campaign)
    escaped: list[Path] = []
    if "zip" in entry:
        submission = folder / "upload.zip"
        context = UploadContext(name, campaign.reports, repo, BASES["hollow"], BASES["reference"])
        escaped = BUILDERS[entry["zip"]](submission, source, context)
    else:
        submission = folder / "models.py"
        submission.write_text(source)
    return repo, submission, escaped


def grade_entry(name: str, entry: dict, campaign: Campaign) -> Outcome:
    outcome = Outcome(name)
    repo, submission, escaped = prepare(name, entry, campaign)
    copy = repo != REPO  # the real checkout is guarded once for the whole campaign
    before = tree_hashes(repo, REPO_PARTS) if copy else {}
    out = campaign.work / name / "out" / "results.json"
    run = grade(submission, out, name=name, repo=repo, extra_args=("--config", str(campaign.override)), env=campaign.env,
                measure_rss=True, new_session=True, timeout=float(campaign.limits["submission_seconds"]) + 240)
    outcome.run = run
    if (campaign.work / name / "planted").is_file():
        shutil.rmtree((campaign.work / name / "planted").read_text(), ignore_errors=True)
    first_hash = hashlib.sha256(out.read_bytes()).hexdigest() if out.is_file() else None
    deadline = time.monotonic() + 3  # SIGKILL is asynchronous: give the kernel a moment
    while (left := token_processes(entry_token(name, campaign))) and time.monotonic() < deadline:
        time.sleep(0.2)
    outcome.left = left
    kill_processes(left)
    time.sleep(float(entry.get("recheck_s", 0)))
    last_hash = hashlib.sha256(out.read_bytes()).hexdigest() if out.is_file() else None
    after = tree_hashes(repo, REPO_PARTS) if copy else {}
    failures = outcome.failures
    # --- the common outcome
    if run.returncode != 0:
        log = run.log_tail[:2500] if run.log_tail.startswith(INTERNAL_ERROR) else run.log_tail[-800:]
        failures.append(f"grader exit status {run.returncode} (expected 0: grading completed)\n{log}")
    if run.results is None or run.problems:
        failures.append(f"no valid results.json: {run.problems}")
    elif out.stat().st_size > MAX_RESULTS_BYTES:
        failures.append(f"results.json is {out.stat().st_size} bytes (cap {MAX_RESULTS_BYTES})")
    text = json.dumps(run.results) if run.results is not None else ""
    if "forged" in text:
        failures.append("results.json holds the submission's forged results")
    for marker in ("SELAB-CANARY", "SELAB-LEAK"):  # printed by the child: code that must not run ran there
        if marker in text:
            at = text.index(marker)
            failures.append(f"the child printed {text[at:at + 160]!r}")
    if first_hash != last_hash:
        failures.append(f"results.json changed after the grader exited ({entry.get('recheck_s', 0)} s later)")
    within = float(entry.get("within_s", float(campaign.limits["submission_seconds"]) + 60))
    if run.wall_s > within:
        failures.append(f"grading took {run.wall_s:.0f} s (bound {within:.0f} s)")
    max_rss = float(entry.get("max_rss_mib", float(campaign.limits["memory_mib"]) + 512))
    if run.max_rss_mib is not None and run.max_rss_mib > max_rss:
        failures.append(f"peak resident memory {run.max_rss_mib:.0f} MiB (bound {max_rss:.0f} MiB)")
    if left:
        failures.append(f"{len(left)} process(es) left behind: {left}")
    if changed := changed_files(before, after):
        failures.append(f"the grader's files (throwaway copy) changed: {changed[:6]}")
    for note in sorted(campaign.reports.glob(f"*-{name}*")):
        if note.name.startswith(("canary-", "leak-")):
            failures.append(f"{note.name}: {note.read_text()[:300]}")
        elif note.name.startswith("huge-"):
            cap = (float(campaign.limits["file_mib"]) + 4) * (1 << 20)
            if note.stat().st_size > cap:
                failures.append(f"{note.name} grew to {note.stat().st_size >> 20} MiB (file cap {campaign.limits['file_mib']} MiB)")
            outcome.notes.append(f"{note.name}: {note.stat().st_size >> 20} MiB")
            note.unlink()
        elif note.name.startswith("info-"):
            outcome.notes.append(note.read_text()[:200])
    for path in escaped:
        if path.exists():
            failures.append(f"a zip entry escaped the upload folder: {path} exists")
    return outcome


def protection_line(doc) -> str:
    """The "Protection in force: ..." line of a results.json (the deployment mode the run exercised)."""
    lines = [line for line in (doc or {}).get("output", "").splitlines() if line.startswith("Protection in force:")]
    return lines[0] if lines else "Protection in force: (not reported)"


def entry_token(name: str, campaign: Campaign) -> str:
    """The run token of one entry: the campaign's prefix and the entry's index (fits a process name)."""
    index = ENTRIES.index(name) if name in ENTRIES else 99
    return f"{campaign.token}{index:02d}"


def check_twins(outcomes: dict[str, Outcome], twins: dict[str, float]) -> None:
    for name, outcome in outcomes.items():
        entry, run = MANIFEST[name], outcome.run
        if run is None or run.results is None or run.problems:
            continue
        per_class = run.class_scores()
        bound = min([entry.get("max_score", TOTAL_POINTS)] + ([twins[entry["twin"]]] if "twin" in entry else []))
        if run.score > bound + 1e-9:
            outcome.failures.append(f"scored {run.score} > {bound} allowed ({'twin ' + entry['twin'] if 'twin' in entry else 'max_score'})")
        if "score_in" in entry and not any(abs(run.score - twins[t]) < 1e-9 for t in entry["score_in"]):
            outcome.failures.append(f"scored {run.score}, none of {[(t, twins[t]) for t in entry['score_in']]}")
        for cls in entry.get("loses", []):
            if per_class[cls][0] >= per_class[cls][1]:
                outcome.failures.append(f"kept full marks in {cls} ({per_class[cls][0]}/{per_class[cls][1]})")
        for cls in entry.get("keeps", []):
            if per_class[cls][0] < per_class[cls][1]:
                outcome.failures.append(f"lost points in {cls} ({per_class[cls][0]}/{per_class[cls][1]}):\n"
                                        f"{failing_outputs(run.results, cls)}")


def figures_table(outcomes: dict[str, Outcome], twins: dict[str, float], reaped: dict[int, str]) -> str:
    lines = [f"{'entry':<24} {'score':>6} {'bound':>6} {'time_s':>7} {'rss_MiB':>8} {'left':>5}  outcome"]
    for name, outcome in outcomes.items():
        entry, run = MANIFEST[name], outcome.run
        bound = min([entry.get("max_score", TOTAL_POINTS)] + ([twins[entry["twin"]]] if "twin" in entry else []))
        score = f"{run.score:g}" if run and run.results else "ERR"
        rss = f"{run.max_rss_mib:.0f}" if run and run.max_rss_mib else "?"
        verdict = "ok" if not outcome.failures else "FAIL: " + outcome.failures[0].splitlines()[0][:90]
        lines.append(f"{name:<24} {score:>6} {bound:>6g} {run.wall_s if run else 0:>7.1f} {rss:>8} {len(outcome.left):>5}  {verdict}")
    runs = [o.run for o in outcomes.values() if o.run]
    worst = max(runs, key=lambda r: r.wall_s)
    peak = max(runs, key=lambda r: r.max_rss_mib or 0)
    left = sum(len(o.left) for o in outcomes.values()) + len(reaped)
    lines += ["", f"entries: {len(outcomes)}; outcomes as expected: {sum(not o.failures for o in outcomes.values())}/{len(outcomes)}; "
              f"worst-case grading time: {worst.wall_s:.1f} s ({worst.name}); peak memory of one process: "
              f"{peak.max_rss_mib or 0:.0f} MiB ({peak.name}); processes left behind: {left}; twins: {twins}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def campaign_results(request):
    missing = grader_missing()
    if missing:
        pytest.fail(missing)
    token = "hx" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"selab-throwaway-{token}-"))
    reports = work / "reports"
    reports.mkdir()
    os.chmod(work, 0o755)
    os.chmod(reports, 0o1777)  # a sandbox user must be able to leave notes
    limits = grader_limits()
    override = work / "hostile-limits.toml"
    override.write_text(toml_text(HOSTILE_CONFIG))
    env = environment_for_grader() | {CONCURRENT_VAR: str(HOSTILE_JOBS)}  # each grading's CPU share, as grade-all's
    campaign = Campaign(token, work, reports, override, limits, env)
    real_before = tree_hashes(REPO, GUARDED)
    started = time.monotonic()
    subreaper = set_subreaper(True)
    outcomes: dict[str, Outcome] = {}
    try:
        build_subset = subprocess.run([sys.executable, "-m", "grader", "build-subset"], cwd=REPO, capture_output=True)
        assert build_subset.returncode == 0, f"cannot build the grader's data subset: {build_subset.stderr[-500:]}"
        # The clean twin (the hollow base alone) is graded alike, in the same pool; the reference's 100 is
        # proven by tests/corpus. Slow entries first, so the short ones fill in around them.
        jobs = {"twin-hollow": {"base": "hollow", "attack": "none"}}
        jobs |= {n: MANIFEST[n] for n in sorted(ENTRIES, key=lambda n: not MANIFEST[n].get("slow"))
                 if not MANIFEST[n].get("exclusive")}
        with ThreadPoolExecutor(max_workers=HOSTILE_JOBS) as pool:
            for outcome in pool.map(lambda item: grade_entry(item[0], item[1], campaign), jobs.items()):
                outcomes[outcome.name] = outcome
        for name in (n for n in ENTRIES if MANIFEST[n].get("exclusive")):
            outcomes[name] = grade_entry(name, MANIFEST[name], campaign)
        twin_runs = {"hollow": outcomes.pop("twin-hollow")}
        twins = {"reference": float(TOTAL_POINTS), **{t: o.run.score for t, o in twin_runs.items()}}
        outcomes = dict(sorted(outcomes.items()))
        check_twins(outcomes, twins)
        reaped = orphans_of_this_test()
        kill_processes(reaped)
        show(request, f"Hostile corpus (config override {HOSTILE_CONFIG}; twins graded alike; "
                      f"{protection_line(twin_runs['hollow'].run.results)}), "
                      f"{time.monotonic() - started:.0f} s in all:\n"
             + figures_table(outcomes, twins, reaped))
        for twin, outcome in twin_runs.items():
            assert not outcome.failures, f"the clean twin {twin} itself misbehaved: {outcome.failures}"
        yield outcomes, reaped, real_before, tree_hashes(REPO, GUARDED), twins
    finally:
        kill_processes(token_processes(token))
        if subreaper:
            set_subreaper(False)
        orphans_of_this_test()
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------ the tests
def test_manifest_covers_the_corpus():
    attacks = {p.stem for p in (HERE / "attacks").glob("*.py") if not p.stem.startswith("_")}
    named = {MANIFEST[n].get("attack", n) for n in ENTRIES} - {"none"}
    assert attacks == named, f"attack files without an entry or entries without a file: {attacks ^ named}"
    assert len(ENTRIES) >= 20, "issue 5 asks for at least 20 hostile submissions"
    for name in ENTRIES:
        entry = MANIFEST[name]
        assert entry.get("why"), f"{name}: say why in one line"
        assert entry.get("base", "none") in BASES, f"{name}: unknown base"
        assert entry.get("zip", "extras") in BUILDERS, f"{name}: unknown zip builder"
        assert {"max_score", "twin", "score_in", "keeps"} & entry.keys(), f"{name}: no score expectation"


@pytest.mark.parametrize("name", ENTRIES)
def test_hostile_entry_outcome(campaign_results, name):
    outcomes = campaign_results[0]
    outcome = outcomes[name]
    hole = MANIFEST[name].get("known_hole")
    if hole:  # a documented, still-open hole (docs/security.md): xfail while it leaks, fail once it is fixed
        if outcome.failures:
            pytest.xfail(f"known hole: {hole}")
        pytest.fail(f"{name} no longer shows its known hole; remove known_hole from tests/hostile/manifest.toml")
    assert not outcome.failures, f"{name} ({MANIFEST[name]['why']}):\n- " + "\n- ".join(outcome.failures)


def test_no_process_escaped_to_the_test_runner(campaign_results):
    reaped = campaign_results[1]
    assert not reaped, f"processes re-parented to the test runner (escaped every grader net): {reaped}"


def test_real_repository_unchanged(campaign_results):
    before, after = campaign_results[2], campaign_results[3]
    assert not changed_files(before, after), f"real repository files changed: {changed_files(before, after)}"


#: Attacks graded together through the Gradescope autograder (one grading: run_autograder is slow).
GRADESCOPE_ATTACKS = ("scan_disk", "rewrite_files", "forge_results", "import_via_path_hints", "walk_root")


def test_gradescope_sandbox_user_cannot_reach_the_grader(campaign_results, tmp_path, request):
    """The hollow base plus the disk scan, the rewrites and the forged results, graded by the real
    ``run_autograder`` in a simulated Gradescope root (tests/packaging/helpers.GradescopeRoot), where
    the child runs as the unprivileged sandbox user and ``$ROOT/source`` is ``go-rwx``: it must read
    nothing, write nothing, forge nothing and leave no process, and score no more than the hollow base."""
    import pwd

    if os.geteuid() != 0:
        pytest.skip("needs root: setup.sh creates the sandbox user and the grader drops to it")
    from grader.packaging.gradescope import build_autograder
    from tests.packaging.helpers import GradescopeRoot

    twins = campaign_results[4]
    token = "hx" + secrets.token_hex(3) + "gs"
    reports = tmp_path / "reports"
    reports.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(reports, 0o1777)
    attacks = "\n\n".join((HERE / "attacks" / f"{name}.py").read_text() for name in GRADESCOPE_ATTACKS)
    kit = (KIT.replace("__RUN_TOKEN__", token).replace("__REPORT_DIR__", str(reports))
           .replace("__ENTRY__", "gradescope").replace("__SCOPE__", "marked"))
    source = f"{BASES['hollow']}\n\n{kit}\n\n{attacks}"
    started = time.monotonic()
    with GradescopeRoot(build_autograder(tmp_path / "autograder.zip")) as gs:
        assert gs.setup.returncode == 0, f"setup.sh failed:\n{gs.setup.stdout}\n{gs.setup.stderr}"
        before = tree_hashes(gs.root / "source", ("grader", "reference"))
        run, doc = gs.grade({"models.py": source})
        results = gs.root / "results" / "results.json"
        first = results.read_bytes() if results.is_file() else b""
        time.sleep(4)  # forge_results' late writer strikes 2 s after grading
        last = results.read_bytes() if results.is_file() else b""
        after = tree_hashes(gs.root / "source", ("grader", "reference"))
        user = pwd.getpwnam("selab-sandbox").pw_uid
        left = {pid: text for pid, text in token_processes(token).items()}
        left |= {int(p): "uid selab-sandbox" for p in os.listdir("/proc") if p.isdigit() and _uid_of(int(p)) == user}
        kill_processes(left)
    wall = time.monotonic() - started
    notes = sorted(note.name for note in reports.iterdir())
    show(request, f"Gradescope simulation ({', '.join(GRADESCOPE_ATTACKS)} on the hollow base, as the sandbox user): "
                  f"score {doc['score'] if doc else 'none'} (hollow twin {twins['hollow']:g}), {wall:.0f} s with "
                  f"set-up, processes left {len(left)}, notes {notes}; {protection_line(doc)}")
    assert doc is not None and run.returncode == 0, f"run_autograder failed ({run.returncode}):\n{run.stdout[-800:]}\n{run.stderr[-800:]}"
    from tests.corpus.grading import schema_problems
    assert not schema_problems(doc), schema_problems(doc)
    text = json.dumps(doc)
    assert "forged" not in text and first == last, "results.json was forged, or rewritten after grading"
    assert "SELAB-LEAK" not in text and "SELAB-CANARY" not in text, doc["output"]
    assert not [n for n in notes if n.startswith(("leak-", "canary-"))], notes
    assert doc["score"] <= twins["hollow"], f"scored {doc['score']} > the hollow base's {twins['hollow']}:\n{doc['output']}"
    assert not changed_files(before, after), f"$ROOT/source changed: {changed_files(before, after)}"
    assert not left, f"processes left behind: {left}"


def _uid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_security_md_limits_match_config():
    """docs/security.md documents the default limits; grader/config.toml is their one source of truth."""
    import re

    with open(REPO / "grader" / "config.toml", "rb") as handle:
        limits = tomllib.load(handle)["limits"]
    text = (REPO / "docs" / "security.md").read_text()
    documented = {key: float(value) for key, value in re.findall(r"^\| `(\w+)` \| ([\d.]+)", text, flags=re.M)}
    assert documented.keys() == limits.keys(), f"docs/security.md's limits table lists {sorted(documented)}, config has {sorted(limits)}"
    wrong = {key: (documented[key], limits[key]) for key in limits if documented[key] != float(limits[key])}
    assert not wrong, f"docs/security.md's defaults (documented, config.toml) disagree: {wrong}"
