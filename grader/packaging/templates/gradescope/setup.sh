#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image;
# pick "Ubuntu 24.04", whose python3 is 3.12). It installs everything grading needs, so nothing is
# downloaded at grading time, creates the unprivileged user that runs student code, and makes the
# grader's files unreadable to that user.
#
# Environment (all optional; the defaults are what Gradescope needs):
#   GRADESCOPE_ROOT      the autograder root                        (default /autograder)
#   SELAB_VENV           where the Python environment is created    (default /opt/selab-venv: outside
#                        the root, so the sandbox user can run it whatever the permissions of /autograder)
#   SELAB_PYTHON         use this interpreter instead of creating $SELAB_VENV (must see torch, numpy, ...)
#   SELAB_SKIP_INSTALL=1 install nothing: only check that the interpreter already has every package
#                        (used by the repository's tests, which run this script in a simulated root)
#   SELAB_SANDBOX_USER   the unprivileged user that runs student code (default selab-sandbox)
#   TORCH_INDEX_URL      where torch comes from (default: PyTorch's CPU-only wheels, smaller and
#                        leaner in memory than PyPI's default CUDA build; set it to
#                        https://pypi.org/simple to take PyPI's default build instead)
set -euo pipefail

ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${SELAB_VENV:-/opt/selab-venv}"
SANDBOX_USER="${SELAB_SANDBOX_USER:-selab-sandbox}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
MIN_PYTHON="3.11"

say() { printf '[setup.sh] %s\n' "$*"; }

if [ -n "${SELAB_PYTHON:-}" ]; then
    PYTHON="$SELAB_PYTHON"
elif [ "${SELAB_SKIP_INSTALL:-0}" = 1 ]; then
    PYTHON="$VENV/bin/python"
else
    # A bare image (Gradescope's base, or Debian's minbase) lacks venv/ensurepip and bubblewrap (the
    # grader's namespace jail, used when the container allows it).
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null || ! command -v bwrap >/dev/null; then
        say "installing python3, python3-venv and bubblewrap with apt"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv bubblewrap >/dev/null
    fi
    say "creating $VENV"
    python3 -m venv "$VENV"
    PYTHON="$VENV/bin/python"
fi

"$PYTHON" - "$MIN_PYTHON" <<'EOF'
import sys
need = tuple(int(p) for p in sys.argv[1].split("."))
if sys.version_info[:2] < need:
    sys.exit(f"[setup.sh] Python {sys.argv[1]}+ is needed, {sys.executable} is {sys.version.split()[0]}; "
             "choose Gradescope's Ubuntu 24.04 base image or set SELAB_PYTHON.")
EOF

if [ "${SELAB_SKIP_INSTALL:-0}" = 1 ]; then
    say "SELAB_SKIP_INSTALL=1: installing nothing, checking $PYTHON has the packages"
else
    say "installing torch from $TORCH_INDEX_URL and the requirements"
    "$PYTHON" -m pip install -q --upgrade pip
    "$PYTHON" -m pip install -q --index-url "$TORCH_INDEX_URL" "torch>=2.1"
    # Grading never imports torchvision (the data subset is bundled; only the students' data.py uses
    # it): leaving it out keeps pip from pairing a CPU torch with PyPI's CUDA-built torchvision.
    grading_requirements="$(mktemp)"
    grep -v -E '^torchvision([^A-Za-z0-9_.-]|$)' "$SOURCE/requirements.txt" > "$grading_requirements"
    "$PYTHON" -m pip install -q -r "$grading_requirements"
    rm -f "$grading_requirements"
fi
# Import what grading imports, as the check that the environment is complete.
"$PYTHON" -c 'import torch, numpy, pytest, hypothesis; print("[setup.sh] torch", torch.__version__)'

if ! id -u "$SANDBOX_USER" >/dev/null 2>&1; then
    say "creating the unprivileged user $SANDBOX_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SANDBOX_USER"
fi

# The grader, the reference, the hidden tests, the configuration and the data subset: root only.
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"

# Check both halves of the promise as the sandbox user itself: it can run Python with torch (the
# child needs the interpreter and its site-packages), and it cannot read the grader's files.
cd /
if ! runuser -u "$SANDBOX_USER" -- "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    say "ERROR: $SANDBOX_USER cannot run $PYTHON with torch; the interpreter must be readable by every user"
    exit 1
fi
if runuser -u "$SANDBOX_USER" -- cat "$SOURCE/grader/config.toml" >/dev/null 2>&1; then
    say "ERROR: $SANDBOX_USER can read $SOURCE/grader/config.toml"
    exit 1
fi
say "done: $SOURCE is readable by root only; student code will run as $SANDBOX_USER"
