# The two commands of the README: `make demo` (set-up + the experiment) and `make test` (set-up + every test).
# Set-up is idempotent: it creates .venv/ when absent and reinstalls only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Torch builds that lie on this machine kind's disk (see docs/maintainers.md, "Set-up"); override on other machines,
# e.g. `make demo TORCH_PINS="torch torchvision"`.
TORCH_PINS ?= $(shell if [ "$$(uname -m)" = x86_64 ]; then echo "torch==2.14.1 torchvision==0.29.1"; else echo "torch==2.9.1 torchvision==0.24.1"; fi)
DEMO_ARGS ?= --impl reference --out runs/demo
PYTEST_ARGS ?=

# $(call apt_install,PACKAGE,TEST): apt-get install PACKAGE when the shell TEST holds, we are root and apt exists
# (quietly; `apt-get update` only when the first install fails). Elsewhere it does nothing.
define apt_install
@if $(2) && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	echo "Installing $(1)"; \
	(apt-get install -y -qq $(1) >/dev/null 2>&1 || \
	 (apt-get update -qq && apt-get install -y -qq $(1) >/dev/null)); \
fi
endef

.PHONY: setup data sandbox demo test bench clean gradescope-e2e mutants student-matrix

setup: $(VENV)/.installed data sandbox

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Real Fashion-MNIST offline: Debian's package, installed when we are root and apt exists.
data:
	$(call apt_install,dataset-fashion-mnist,[ ! -d /usr/share/datasets/fashion-mnist ])

# The grader's sandbox (bubblewrap, grader/sandbox/bwrap.py): installed when we are root and apt exists.
sandbox:
	$(call apt_install,bubblewrap,! command -v bwrap >/dev/null)

demo: setup
	$(PY) -m assignment.compare $(DEMO_ARGS)

test: setup
	SELAB_IMPL=reference $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

# Gradescope's and the students' set-up from a bare Debian image, graded under Gradescope's default
# limits (768 MB, one CPU); needs root (it installs mmdebstrap when missing); minutes; not part of `make test`.
gradescope-e2e: setup
	$(call apt_install,mmdebstrap,! command -v mmdebstrap >/dev/null)
	$(PY) tests/e2e/gradescope_e2e.py

# The handout as students install it (fresh venvs, `pip install -r requirements.txt`): Python 3.10 with the oldest
# versions requirements.txt allows, Python 3.13 with the newest; public tests, the notebook headless and the compare
# CLI in each (tests/e2e/student_matrix.py). GBs of wheels under /var/tmp; minutes; not part of `make test`.
STUDENT_MATRIX_ARGS ?=
student-matrix: setup
	$(PY) tests/e2e/student_matrix.py $(STUDENT_MATRIX_ARGS)

# Mutation analysis of the hidden suite (grader/mutants): every mutant of reference/models.py graded by the
# real grader; minutes; not part of `make test` (CI grades a fixed sample: tests/grader/test_mutants.py).
MUTANTS_ARGS ?= --jobs 2 --out dist/mutants
mutants: setup
	$(PY) -m grader mutants $(MUTANTS_ARGS)

clean:
	rm -rf runs dist bench/results.json .pytest_cache .hypothesis
