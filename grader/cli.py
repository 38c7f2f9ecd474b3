"""``python -m grader``: grade, grade-all, build-subset, calibrate, and the packaging commands.

grade SUBMISSION --out results.json   one upload (models.py, folder or .zip) -> Gradescope results.json
grade-all DIR --out OUTDIR [--jobs N] [--previous OLD] [--similarity]
                                      every entry of DIR (or a Gradescope export) -> OUTDIR/<name>/results.json,
                                      grades.csv, report.md, score-histogram.png (+ changes.csv with --previous,
                                      OUTDIR/similarity/ with --similarity)
build-subset [--data-dir DIR]          the bundled Fashion-MNIST subset (grader/data/, gitignored)
calibrate [--seeds 20]                 short-training accuracy of the reference over seeds ->
                                      grader/calibration.json (``--write-config`` updates thresholds)
mutants --out DIR [--sample N] [--seed S] [--jobs J] [--classes C ...]
                                      mutation analysis of the hidden suite -> DIR/mutants.json, mutants.md
similarity DIR --out OUTDIR [--guidance L] which submissions are unusually alike -> OUTDIR/similarity.html,
                                      similarity.csv (grader/similarity.py)
handout | autograder | otter --out F  packaging (grader/packaging); handout --guidance full|lab|outline

Every command takes ``--config FILE`` (a partial TOML merged over grader/config.toml; also
``$SELAB_GRADER_CONFIG``). ``grade`` always writes a valid results.json and exits 0 whenever
grading completed, whatever the score; 1 on an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

REFUSED = 2  # exit status of grade / grade-all when no sandbox can be set up (nothing was graded)
PACKAGING = {
    "handout": ("grader.packaging.handout", "build_handout", "dist/handout.zip",
                "the student handout (stubs, harness, public tests, README)"),
    "autograder": ("grader.packaging.gradescope", "build_autograder", "dist/autograder.zip",
                   "the Gradescope autograder zip"),
    "otter": ("grader.otter.build", "build_otter", "dist/otter-autograder.zip",
              "the otter-grader autograder zip"),
}


UNSAFE_HELP = ("grade without any sandbox, for trusted code only (results say 'graded without isolation'); "
               "without it the grader refuses where no sandbox can be set up")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub):
        sub.add_argument("--config", default=None, help="partial TOML merged over grader/config.toml")
        return sub

    grade = with_config(commands.add_parser("grade", help="grade one submission"))
    grade.add_argument("submission", help="a models.py, a folder, or a .zip holding a models.py")
    grade.add_argument("--out", required=True, help="where to write results.json")
    grade.add_argument("--sandbox-user", default=None,
                       help="run the child as this user (needs root; overrides sandbox.user)")
    grade.add_argument("--isolation", choices=("auto", "none"), default=None, help="overrides sandbox.isolation")
    grade.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)

    grade_all = with_config(commands.add_parser("grade-all", help="grade every submission in a folder"))
    grade_all.add_argument("directory")
    grade_all.add_argument("--out", required=True, help="output folder")
    grade_all.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade_all.add_argument("--sandbox-user", default=None)
    grade_all.add_argument("--isolation", choices=("auto", "none"), default=None)
    grade_all.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    grade_all.add_argument("--previous", default=None, metavar="OLD",
                           help="an earlier grade-all OUTDIR: also write changes.csv and what changed in report.md")
    grade_all.add_argument("--similarity", action="store_true",
                           help="also compare the submissions (OUTDIR/similarity/) and summarise in report.md")

    subset = commands.add_parser("build-subset", help="build the bundled Fashion-MNIST subset")
    subset.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST .gz files")
    subset.add_argument("--out", default=None, help="default: grader/data/fashion-mnist-subset.npz")

    calibrate = with_config(commands.add_parser("calibrate", help="calibrate the short-training thresholds"))
    calibrate.add_argument("--seeds", type=int, default=20)
    calibrate.add_argument("--margin", type=float, default=None, help="default: calibrate.DEFAULT_MARGIN")
    calibrate.add_argument("--out", default=None, help="default: grader/calibration.json")
    calibrate.add_argument("--write-config", action="store_true",
                           help="also write the suggested thresholds into grader/config.toml")

    mutants = with_config(commands.add_parser("mutants", help="mutation analysis of the hidden suite"))
    mutants.add_argument("--out", required=True, help="folder for mutants.json and mutants.md")
    mutants.add_argument("--sample", type=int, default=None, help="grade a seeded sample of N mutants")
    mutants.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    mutants.add_argument("--jobs", type=int, default=1, help="mutants graded at once (default 1)")
    mutants.add_argument("--classes", nargs="+", default=None, metavar="CLASS",
                         help="only mutants of these classes (CNN_Base SEBlock CNN_SE CNN_SelfAttention '(module)')")
    mutants.add_argument("--ids", nargs="+", default=None, metavar="ID", help="only these mutants (ids of mutants.json)")
    mutants.add_argument("--keep", action="store_true", help="keep every mutant's models.py, results.json, log in DIR/work")

    _add_similarity(commands, with_config)

    for name, (_, _, default, text) in PACKAGING.items():
        sub = commands.add_parser(name, help=f"build {text}")
        sub.add_argument("--out", default=default)
    _add_guidance(commands.choices["handout"], "how much the stubs give away")
    return parser


def _add_similarity(commands, with_config) -> None:
    """``similarity DIR --out OUTDIR``: pairs of submissions above the threshold (grader/similarity.py)."""
    sub = with_config(commands.add_parser("similarity", help="which submissions of a class are unusually alike"))
    sub.add_argument("directory", help="one entry per submission (.py, folder or .zip), as for grade-all")
    sub.add_argument("--out", required=True, help="folder for similarity.html, similarity.csv and sources/")
    _add_guidance(sub, "the level of the stubs handed out, which are boilerplate")


def _similarity(args) -> int:
    from grader.similarity import CSV, HTML, THRESHOLD, similarity

    flagged = similarity(Path(args.directory), Path(args.out), getattr(args, "guidance", None), args.config)
    for pair in flagged:
        print(f"{pair.score:.2f}  {pair.first} ~ {pair.second}")
    print(f"{len(flagged)} pair(s) at or above {THRESHOLD} -> {Path(args.out) / HTML}, {Path(args.out) / CSV}")
    return 0


def _add_guidance(sub, what: str) -> None:
    """``--guidance full | lab | outline`` (grader/packaging/stubs.py). The autograder zips leave
    grader/packaging out, and grading must not need it: there the option is simply absent."""
    try:
        from grader.packaging.stubs import DEFAULT, LEVELS, levels_help
    except ImportError:
        return
    sub.add_argument("--guidance", choices=tuple(LEVELS), default=DEFAULT, help=f"{what}: {levels_help()}")


def _config(args):
    from grader.config import load_config

    config = load_config(args.config)
    if getattr(args, "sandbox_user", None) is not None or getattr(args, "isolation", None) is not None:
        config = config.with_sandbox(user=args.sandbox_user, isolation=args.isolation)
    return config


def _grade(args) -> int:
    return grade_upload(args.submission, args.out, lambda: _config(args), args.unsafe_no_sandbox)


def grade_upload(upload, out, config_of, unsafe_no_sandbox: bool = False) -> int:
    """``grade``'s whole contract for one upload, also run by each fork of ``grade-all``: results.json is
    always written unless grading is refused (exit 2, no sandbox); the summary's first lines are printed."""
    started = time.monotonic()
    try:
        from grader.runner import grade
        from grader.sandbox.process import NoIsolation

        config = config_of()
        try:
            code = grade(upload, out, config, unsafe_no_sandbox)
        except NoIsolation as refusal:  # fail closed: nothing graded, no results.json
            print(refusal, file=sys.stderr)
            return REFUSED
    except BaseException as error:  # noqa: B902 - last line of defence: a valid results.json, always
        if isinstance(error, KeyboardInterrupt):
            raise
        _emergency_results(out, started, error)
        code = 1
    try:
        print(json.loads(Path(out).read_text())["output"].split("\n\n")[0])
    except (OSError, ValueError, KeyError):
        pass
    return code


def _emergency_results(out: str, started: float, error: BaseException) -> None:
    """The minimal valid results.json, written when the grader itself cannot run."""
    doc = {"score": 0, "execution_time": round(time.monotonic() - started, 2), "tests": [],
           "output": f"Internal grader error ({type(error).__name__}: {error}); nothing was graded. "
                     "Please tell your instructor."}
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    print(doc["output"], file=sys.stderr)


def _mutants(args) -> int:
    from grader.mutants.campaign import run
    from grader.sandbox.process import NoIsolation, SandboxSettings, protection

    config = _config(args)
    try:
        protection(SandboxSettings.from_config(config))  # fail closed before anything is generated
    except NoIsolation as refusal:
        print(refusal, file=sys.stderr)
        return REFUSED
    doc = run(config, Path(args.out), args.sample, args.seed, args.jobs, args.classes, args.ids, args.keep)
    s = doc["summary"]
    rate = "n/a" if s["kill_rate"] is None else f"{100 * s['kill_rate']:.1f} %"
    print(f"{s['mutants']} mutants: {s['killed']} killed, {s['survived']} survived, {s['equivalent']} equivalent, "
          f"{s['error']} errors; kill rate {rate}; {s['wall_seconds']:.0f} s with {s['jobs']} jobs -> "
          f"{Path(args.out) / 'mutants.md'}")
    return 1 if s["error"] else 0


def _packaging(command: str, out: str, **options) -> int:
    module_name, function_name, _, text = PACKAGING[command]
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except (ImportError, AttributeError) as error:
        print(f"cannot build {text}: {module_name}.{function_name} is not available ({error})", file=sys.stderr)
        return 2
    print(function(Path(out), **options))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "grade":
        return _grade(args)
    if args.command == "grade-all":
        from grader.classroom import grade_all

        return grade_all(Path(args.directory), Path(args.out), args.jobs, args.config, args.sandbox_user,
                         args.isolation, args.unsafe_no_sandbox, Path(args.previous) if args.previous else None,
                         args.similarity)
    if args.command == "build-subset":
        from grader.subset import SUBSET_PATH, build_subset

        print(build_subset(args.data_dir, Path(args.out) if args.out else SUBSET_PATH))
        return 0
    if args.command == "mutants":
        return _mutants(args)
    if args.command == "similarity":
        return _similarity(args)
    if args.command == "calibrate":
        from grader.calibrate import calibrate

        return calibrate(_config(args), args.seeds, args.margin, args.out, args.write_config)
    options = {"guidance": args.guidance} if getattr(args, "guidance", None) else {}
    return _packaging(args.command, args.out, **options)
