# Tiny U-Net kit. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

DATA_SRC ?=
SUBMISSIONS ?=
PROFILE ?= ci
OUT ?= grades
JOBS ?= 1
SANDBOX ?= auto
UNSANDBOXED ?=
REGRADE ?=
ASSIGNMENT := tiny_unet

.PHONY: setup data release grade demo test test-fast lint bench clean

setup: $(VENV)/.installed

# Each phase says what it does; pip shows every package it collects and its downloads' progress.
$(VENV)/.installed: requirements.txt
	@echo "setup [1/4]: a virtual environment in $(VENV) (Python: $$($(PYTHON) --version 2>&1))"
	$(PYTHON) -m venv $(VENV)
	@echo "setup [2/4]: the newest pip (an old one backtracks for minutes on these pins)"
	$(BIN)/python -m pip install --upgrade --quiet pip
	@echo "setup [3/4]: $$(grep -c '==' requirements.txt) pinned packages from requirements.txt, TensorFlow the largest (several hundred MB): a few minutes on a first install"
	$(BIN)/python -m pip install --progress-bar on -r requirements.txt
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  version=$$(sed -n 's/^tensorflow-cpu==\([0-9.]*\).*/\1/p' requirements.txt); \
	  echo "setup [3/4]: GPU found: replacing tensorflow-cpu with TensorFlow's CUDA build, tensorflow[and-cuda]==$$version with the NVIDIA CUDA libraries (several GB)"; \
	  $(BIN)/python -m pip uninstall --quiet -y tensorflow-cpu; \
	  $(BIN)/python -m pip install --progress-bar on "tensorflow[and-cuda]==$$version"; \
	fi
	@echo "setup [4/4]: system packages: bubblewrap (the sandbox) and Graphviz (the notebook's model diagram)"
	@tools/system-packages bwrap:bubblewrap dot:graphviz
	@command -v bwrap >/dev/null 2>&1 || echo "note: without bubblewrap, make grade runs student code as unprivileged users (as root) or refuses"
	touch $@
	@echo "setup: done"

# Prepare oxford_iiit_pet for tfds offline (DATA_SRC: official archives or extracted folder; empty: synthetic).
data: setup
	$(BIN)/python -m assignment.data $(if $(DATA_SRC),--source "$(DATA_SRC)")

# Student version from the master notebook, with nbgrader; first the notebook's points table, section headings and
# self-check points, and README's table, are written from assignment/points.py.
release: setup
	$(BIN)/python -m assignment.outline
	cd $(CURDIR) && $(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<dir> [PROFILE=smoke|ci|full] [OUT=grades] [JOBS=1] [REGRADE=1] [ONLY=a,b] [SANDBOX=auto|bwrap|user] [UNSANDBOXED=1] [GRADEBOOK=gradebook.db]"; exit 2; }
	$(BIN)/python -m autograder.grade "$(SUBMISSIONS)" --profile $(PROFILE) --out "$(OUT)" --jobs $(JOBS) --sandbox $(SANDBOX) \
	  $(if $(filter 1,$(UNSANDBOXED)),--unsandboxed) $(if $(filter 1,$(REGRADE)),--regrade) $(if $(ONLY),--only "$(ONLY)") $(if $(GRADEBOOK),--gradebook "$(GRADEBOOK)")

# The main job on the embedded synthetic data: grade the solution and the unfilled release.
demo: setup data
	rm -rf build/demo && mkdir -p build/demo/submissions
	cp solution/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb build/demo/submissions/solution.ipynb
	cp release/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb build/demo/submissions/unfilled_release.ipynb
	$(BIN)/python -m autograder.grade build/demo/submissions --profile smoke --out build/demo/grades --jobs 2

# Unit tests of every stage on committed facts: no notebook runs, well under a minute.
test-fast: setup
	$(BIN)/python -m pytest tests/fast -q -p no:cacheprovider -n 2

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tests/suite.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/grading_speed.py
	$(BIN)/python benchmarks/batch_speed.py

# ---- Where courses grade: Gradescope, Slurm, nbgrader's gradebook (autograder/engines/) ----
GRADEBOOK ?=
VISIBILITY ?=
PARTITION ?=
ACCOUNT ?=
GPUS_PER_TASK ?= 1
CPUS_PER_TASK ?= 2
MAX_PARALLEL ?=
ONLY ?=
SUBMIT ?= 0

.PHONY: gradescope test-gradescope slurm grade-merge report rejudge

# build/gradescope/autograder.zip for PROFILE=smoke|ci [DATA_SRC=<official archives>] [VISIBILITY=visible|after_published]
gradescope: setup
	$(BIN)/python -m autograder.engines.gradescope build --profile $(PROFILE) $(if $(DATA_SRC),--data-src "$(DATA_SRC)") $(if $(VISIBILITY),--visibility $(VISIBILITY))

# The zip as Gradescope uses it: setup.sh into a fresh venv (installs the pins), then run_autograder with the
# unprivileged-user sandbox on the solution (about 1.5 minutes here). Needs root; not part of `make test`.
test-gradescope: setup
	KIT_GRADESCOPE_SETUP=1 $(BIN)/python -m pytest tests/test_engines.py -k setup_sh -p no:cacheprovider --durations=2

# OUT/slurm/grade.sbatch (one array task per submission) and merge.sbatch; SUBMIT=1 sbatches both.
slurm: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make slurm SUBMISSIONS=<dir> [PROFILE=smoke|ci|full] [OUT=grades] [PARTITION=] [ACCOUNT=] [GPUS_PER_TASK=1] [CPUS_PER_TASK=2] [MAX_PARALLEL=] [ONLY=<student>,...] [GRADEBOOK=] [SUBMIT=0|1]"; exit 2; }
	$(BIN)/python -m autograder.engines.slurm "$(SUBMISSIONS)" --profile $(PROFILE) --out "$(OUT)" --gpus-per-task $(GPUS_PER_TASK) \
	  --cpus-per-task $(CPUS_PER_TASK) --sandbox $(SANDBOX) $(if $(filter 1,$(UNSANDBOXED)),--unsandboxed) $(if $(PARTITION),--partition "$(PARTITION)") \
	  $(if $(ACCOUNT),--account "$(ACCOUNT)") $(if $(MAX_PARALLEL),--max-parallel $(MAX_PARALLEL)) $(if $(ONLY),--only "$(ONLY)") \
	  $(if $(GRADEBOOK),--gradebook "$(GRADEBOOK)") $(if $(filter 1,$(SUBMIT)),--submit)

# OUT/grades.csv from whatever OUT/<student>/ holds (after Slurm tasks, or a rerun of some).
grade-merge: setup
	$(BIN)/python -m autograder.grade --merge "$(OUT)" $(if $(GRADEBOOK),--gradebook "$(GRADEBOOK)")

# Judge what OUT/<student>/ holds again (after a change to the hidden checks, points or reports), running no notebook;
# a student measured by another version of the grader's measuring code is left for make grade (exit 1 names them).
rejudge: setup
	$(BIN)/python -m autograder.grade --rejudge "$(OUT)" $(if $(GRADEBOOK),--gradebook "$(GRADEBOOK)")

# OUT/report.html (the batch at a glance, for the instructor) and OUT/similarity.csv from OUT/*/outcome.json.
report: setup
	$(BIN)/python -m autograder.dashboard "$(OUT)"

clean:
	rm -rf build grades gradebook.db

# ---- The student notebook on other stacks and in a real browser (issue 9) ---------------------------
.PHONY: test-colab test-browser

# The solution notebook, headless at a small size, on the kit's pin, on Colab's published stack
# (requirements-colab.txt) and on the oldest supported one (requirements-oldest.txt). The environments
# live in build/stacks/ and are reused while their requirements file and interpreter stay the same.
test-colab: setup
	@$(BIN)/python tests/kit_envs.py kit colab oldest
	@KIT_STACK_TESTS=1 $(BIN)/python -m pytest tests/colab -q -p no:cacheprovider

# The student notebook in JupyterLab on 127.0.0.1, driven by headless Chromium (Debian's `chromium`,
# installed here when missing and apt-get is usable as root); screenshots go to build/browser/.
test-browser: setup
	@tools/system-packages chromium:chromium
	@$(BIN)/python tests/kit_envs.py browser
	@KIT_BROWSER_TEST=1 $(BIN)/python -m pytest tests/browser -q -p no:cacheprovider
