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
ASSIGNMENT := tiny_unet

.PHONY: setup data release grade demo test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "GPU found: installing TensorFlow's CUDA build"; \
	  $(BIN)/python -m pip uninstall --quiet -y tensorflow-cpu; \
	  $(BIN)/python -m pip install --quiet "tensorflow[and-cuda]==2.21.0"; \
	fi
	@tools/system-packages bwrap:bubblewrap dot:graphviz
	@command -v bwrap >/dev/null 2>&1 || echo "note: without bubblewrap, make grade runs student code as unprivileged users (as root) or refuses"
	touch $@

# Prepare oxford_iiit_pet for tfds offline (DATA_SRC: official archives or extracted folder; empty: synthetic).
data: setup
	$(BIN)/python -m assignment.data $(if $(DATA_SRC),--source "$(DATA_SRC)")

# Student version from the master notebook, with nbgrader.
release: setup
	cd $(CURDIR) && $(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<dir> [PROFILE=smoke|ci|full] [OUT=grades] [JOBS=1] [SANDBOX=auto|bwrap|user] [UNSANDBOXED=1]"; exit 2; }
	$(BIN)/python -m autograder.grade "$(SUBMISSIONS)" --profile $(PROFILE) --out "$(OUT)" --jobs $(JOBS) --sandbox $(SANDBOX) $(if $(UNSANDBOXED),--unsandboxed)

# The main job on the embedded synthetic data: grade the solution and the unfilled release.
demo: setup data
	rm -rf build/demo && mkdir -p build/demo/submissions
	cp solution/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb build/demo/submissions/solution.ipynb
	cp release/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb build/demo/submissions/unfilled_release.ipynb
	$(BIN)/python -m autograder.grade build/demo/submissions --profile smoke --out build/demo/grades --jobs 2

# Unit tests of every stage on committed facts: no notebook runs, well under a minute.
test-fast: setup
	$(BIN)/python -m pytest tests/fast -q -p no:cacheprovider

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/fast -q -p no:cacheprovider
	$(BIN)/python -m pytest tests --ignore=tests/fast

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/grading_speed.py

clean:
	rm -rf build grades gradebook.db
