"""The student stubs at three guidance levels, rendered from one template.

``full``    every TODO spells out its code (the original stubs);
``lab``     the lab text's own level: its skeletons with the parts it leaves open (``???``), its SE
            excitation, and for self-attention only what the pinned API needs;
``outline`` the class docstrings (the spec: attribute names, shapes, what each class computes), no code.

The docstrings are written once in templates/stubs/models.py.jinja and shared by every level, with
their numbers taken from assignment/spec.py, so the levels cannot drift apart. ``GIVES`` lists, per
level, the reference lines the level hands out on purpose; tests/packaging/test_stubs.py fails on
any other reference line found in a level's stubs. The committed ``assignment/models.py`` is the
``DEFAULT`` level (``python -m grader.packaging.stubs`` rewrites it; a test checks it is up to date).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assignment import spec
from grader.packaging.archive import REPO_ROOT

TEMPLATE = Path(__file__).resolve().parent / "templates" / "stubs" / "models.py.jinja"
COMMITTED = REPO_ROOT / "assignment" / "models.py"
DEFAULT = "lab"

#: Level -> one line for the student README and --help.
LEVELS = {
    "full": "every TODO comment spells out the code to write",
    "lab": "the lab text's skeletons (you fill in the `???`), its SE excitation, and for self-attention "
           "only the names and shapes it must have",
    "outline": "the class docstrings only (attribute names, shapes, what each class computes); no code hints",
}

_SHARED = ("super().__init__()",)
_SE_EXCITATION = ("self.fc = nn.Sequential(", "nn.Linear(channels, reduction, bias=False),", "nn.ReLU(),",
                  "nn.Linear(reduction, channels, bias=False),", "nn.Sigmoid(),")
_CONV1 = "self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)"
_CONV2 = "self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)"

#: Level -> the reference/models.py lines (code part, as written there) that the level gives away on purpose.
GIVES: dict[str, tuple[str, ...]] = {
    "full": _SHARED + _SE_EXCITATION + (
        _CONV1,
        "self.avg_pool = nn.AdaptiveAvgPool2d(1)",
        "self.se1 = SEBlock(32, reduction)",
        "self.se2 = SEBlock(64, reduction)",
        "self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)",
    ),
    "lab": _SHARED + _SE_EXCITATION + (_CONV1, _CONV2),  # the conv lines: the lab text's CNN_SE skeleton
    "outline": _SHARED,
}


def levels_help() -> str:
    """The levels for --help: "full = ...; lab = ...; outline = ... (default lab)"."""
    return "; ".join(f"{name} = {text}" for name, text in LEVELS.items()) + f" (default {DEFAULT})"


def render(level: str = DEFAULT) -> str:
    """The text of assignment/models.py at ``level``."""
    import jinja2  # instructors' tools only: grading never renders stubs

    if level not in LEVELS:
        raise ValueError(f"unknown guidance level {level!r}; expected one of {', '.join(LEVELS)}")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.get_template(TEMPLATE.name).render(
        level=level, spec=spec, k=spec.KERNEL_SIZE, c1=spec.CONV1_CHANNELS, c2=spec.CONV2_CHANNELS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render the stubs; by default rewrite assignment/models.py.")
    parser.add_argument("--guidance", choices=tuple(LEVELS), default=DEFAULT, help=levels_help())
    parser.add_argument("--out", type=Path, default=COMMITTED)
    args = parser.parse_args(argv)
    args.out.write_text(render(args.guidance))
    print(f"Written: {args.out} ({args.guidance})")


if __name__ == "__main__":
    main()
