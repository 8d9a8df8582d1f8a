"""Python environments for the stack and browser tests, under build/stacks/ (gitignored).

Stacks the student notebook is run on (`make test-colab`, tests/colab/):

* `kit`: the kit's own pinned `.venv` (requirements.txt);
* `colab`: Colab's published versions (requirements-colab.txt), Python 3.13 where it is installed;
* `oldest`: the oldest stack the notebook claims to support (requirements-oldest.txt), Python 3.10.

The browser test (`make test-browser`, tests/browser/) drives Chromium from the `browser` environment
(requirements-browser.txt).

An environment is created on first use and reused while its requirements file and interpreter stay the
same (a stamp in the environment records both). `python tests/kit_envs.py [NAME ...]` creates them
without running anything, e.g. to do the downloads before a run that is timed or serialised.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVS_DIR = ROOT / "build" / "stacks"
KIT_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Env:
    """A Python environment built from one requirements file."""

    name: str
    requirements: str  # file in the repository root
    pythons: tuple[str, ...]  # interpreter versions, preferred first
    tensorflow: str = ""  # for a notebook stack: the versions the notebook must report there
    keras: str = ""

    @property
    def path(self) -> Path:
        return ENVS_DIR / self.name


STACKS = {
    "kit": Env("kit", "requirements.txt", (), "2.21.0", "3.15.1"),
    "colab": Env("colab", "requirements-colab.txt", ("3.13", "3.12", "3.11", "3.10"), "2.20.0", "3.13.2"),
    "oldest": Env("oldest", "requirements-oldest.txt", ("3.10", "3.11", "3.12"), "2.19.0", "3.8.0"),
}
BROWSER = Env("browser", "requirements-browser.txt", ("3.11", "3.12", "3.13", "3.10"))


def _version_of(python: str) -> str | None:
    try:
        done = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(versions: tuple[str, ...]) -> tuple[str, str]:
    """The first interpreter found for `versions` (PATH, then pyenv), as (path, full version)."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for version in versions:
        candidates = [
            shutil.which(f"python{version}"),
            *sorted(glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / f"python{version}")), reverse=True),
        ]
        for candidate in filter(None, candidates):
            found = _version_of(candidate)
            if found and found.startswith(version + "."):
                return candidate, found
    raise RuntimeError(
        f"no Python {' or '.join(versions)} with venv and ensurepip found on PATH or under {pyenv}/versions"
    )


def ensure_env(env: Env, log=print) -> Path:
    """The Python of `env`, its environment created or rebuilt when its requirements or interpreter changed."""
    if env.name == "kit":
        return KIT_PYTHON
    requirements = ROOT / env.requirements
    interpreter, version = find_python(env.pythons)
    wanted = {"requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(), "python": version}
    stamp = env.path / "kit-stamp.json"
    python = env.path / "bin" / "python"
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and python.exists():
        return python
    log(f"{env.name}: creating {env.path.relative_to(ROOT)} with Python {version} from {env.requirements}")
    shutil.rmtree(env.path, ignore_errors=True)
    subprocess.run([interpreter, "-m", "venv", str(env.path)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "--upgrade", "pip"], capture_output=True, text=True, check=False
    )  # older Pythons bring a slow resolver
    if done.returncode == 0:
        done = subprocess.run([*pip, "-r", str(requirements)], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(
            f"pip install -r {env.requirements} failed for the {env.name} environment:\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )
    stamp.write_text(json.dumps(wanted))
    return python


def main(argv: list[str]) -> int:
    """Create the environments named in `argv` (all by default); says something only when it creates one."""
    envs = {**STACKS, BROWSER.name: BROWSER}
    for name in argv or list(envs):
        ensure_env(envs[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
