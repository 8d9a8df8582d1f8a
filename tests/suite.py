"""`make test`'s pytest runs, packed for 2 cores: the shared smoke batch's tests first, then, once the batch is
graded, the fast suite and the other slow tests beside its readers.

The batch saturates the cores and looks at the whole machine before and after its grading (tests/harness.py), so it
runs alone; its conftest fixture writes the file named by KIT_BATCH_SIGNAL once it has looked at what the other tests
could change (or once grading failed or was skipped). What runs after it keeps a core or less busy per process (one
notebook at a time, waits on Slurm), so three sessions (the fast tests in two workers, the other slow tests in
three) share the cores from then on. All three start at once: the two others collect their tests while the batch is
set up (one core idle then) and wait for that file (KIT_WAIT_FOR, tests/conftest.py) before they run one. The data
sets are prepared once, in a folder every session reads (tests/datasets.py), as the suite starts. Each session's
output is printed whole when it ends; the exit status is the first failure's.

    python tests/suite.py [PYTEST ARGS...]   extra arguments go to every session
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
SESSIONS = {
    "the shared batch and its readers": ["tests", "--ignore=tests/fast", "-m", "batch", "--durations=10"],
    "fast": ["tests/fast", "-q", "-n", "2"],
    # Three workers, a module each (loadfile: a module's batch, e.g. the resumed batches' `whole`, is graded once).
    # With two, this session had the most work after the batch, and its last module (the self-checks' kernel, one
    # process) ran alone for about 40 s with a core idle; a third worker gives it a larger share of the cores, and the
    # three sessions end within about 20 s of each other (tests/conftest.py also puts the self-checks first).
    # Modules in file order, not by their number of tests (xdist's default): the few-test modules that grade (the
    # resumed batches, the Gradescope zip) then start first instead of last.
    "the other slow tests": [
        "tests",
        "--ignore=tests/fast",
        "-m",
        "not batch",
        "--durations=10",
        "-n",
        "3",
        "--dist",
        "loadfile",
        "--no-loadscope-reorder",
    ],
}
BATCH_WAIT = 2700  # seconds: the batch's own limit (tests/harness.py, 2400) and its set-up


@dataclass
class Session:
    name: str
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    def report(self) -> int:
        """Its output and exit status, once it has ended."""
        code = self.process.wait()
        print(f"\n===== {self.name}: exit {code} after {time.monotonic() - self.started:.0f} s =====", flush=True)
        print(self.log.read_text(errors="replace"), flush=True)
        return code


def start(name: str, extra: list[str], folder: Path, env: dict[str, str]) -> Session:
    log = folder / f"{list(SESSIONS).index(name)}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [*PYTEST, *SESSIONS[name], *extra], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    print(f"started: {name}", flush=True)
    return Session(name, process, log)


def main(extra: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="kit-suite-") as scratch:
        folder = Path(scratch)
        signal = folder / "batch-graded"
        (folder / "data").mkdir()
        env = {**os.environ, "KIT_BATCH_SIGNAL": str(signal), "KIT_SHARED_DATA": str(folder / "data")}
        with (folder / "data.log").open("w") as log:  # beside the sessions' start-up and the batch's set-up
            sets = [sys.executable, "tests/datasets.py", "tfds-synthetic", "tfds-sample"]
            prepared = subprocess.Popen(sets, cwd=ROOT, env=env, stdout=log, stderr=log)
        first = start("the shared batch and its readers", extra, folder, env)
        # One BLAS and one TensorFlow thread a process: from then on the sessions keep more processes busy than there
        # are cores. NumPy's matrix products there (the fixed rules' fits) are memory-bound, so a second thread doubles
        # their CPU seconds and saves no time; TensorFlow's idle pool threads spin before they sleep (the fast tests
        # alone at -n 2: 168-177 busy core-seconds with one thread, 183 with its own choice). Sandboxes get an
        # environment of their own (autograder/pipeline.py).
        one_thread = {"OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
        later = {**env, "KIT_WAIT_FOR": str(signal), **one_thread}
        running = [first, *(start(name, extra, folder, later) for name in ("fast", "the other slow tests"))]
        print("grading the shared smoke batch alone (about 6 minutes on 2 cores) ...", flush=True)
        deadline = time.monotonic() + BATCH_WAIT
        while not signal.exists() and first.process.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        if not signal.exists():  # its session ended (or hung) before it wrote that: the others go on all the same
            signal.write_text("not graded\n")
        print(f"the shared batch is over after {time.monotonic() - first.started:.0f} s", flush=True)
        codes = []
        while running:  # each session's output as soon as it ends
            ended = [session for session in running if session.process.poll() is not None]
            codes += [session.report() for session in ended]
            running = [session for session in running if session not in ended]
            time.sleep(1)
        if prepared.wait():  # the tests that need a data set prepared it again, or said why they could not
            print(f"preparing the shared data sets failed:\n{(folder / 'data.log').read_text(errors='replace')}")
    failed = [code for code in codes if code not in (0, 5)]  # 5: no test selected (e.g. a -k that picks none)
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
