#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu 22.04, with internet).
# It installs the sandbox tools, a Python >= 3.11 (the pins need it; Ubuntu 22.04 ships 3.10) and the
# pinned requirements in $SOURCE/venv, readable by the unprivileged users that run student code.
# Locally: AUTOGRADER_ROOT=<dir> bash <dir>/source/setup.sh
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$SOURCE/venv"
STANDALONE=/opt/tiny-unet/python
STANDALONE_URL="https://github.com/astral-sh/python-build-standalone/releases/download/20241016/cpython-3.11.10+20241016-x86_64-unknown-linux-gnu-install_only.tar.gz"
STANDALONE_SHA256=8b50a442b04724a24c1eebb65a36a0c0e833d35374dbdf9c9470d8a97b164cd9
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# A Python is usable when it is >= 3.11, has venv and ensurepip, and every folder above its installation
# lets other users through (student code runs as an unprivileged uid; /root/... is closed to it).
usable_python() {
  local candidate
  for candidate in /usr/bin/python3.11 /usr/bin/python3.12 /usr/bin/python3.13 /usr/local/bin/python3.11 \
      /usr/local/bin/python3.12 "$STANDALONE/bin/python3" "$(command -v python3 || true)"; do
    [ -x "$candidate" ] || continue
    "$candidate" - <<'EOF' >/dev/null 2>&1 && { echo "$candidate"; return 0; }
import ensurepip, os, stat, sys, venv
path = os.path.realpath(sys.base_prefix)
while path != "/":
    assert os.stat(path).st_mode & stat.S_IXOTH, path
    path = os.path.dirname(path)
sys.exit(sys.version_info < (3, 11))
EOF
  done
  return 1
}

install_python() {
  if grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null; then
    echo "setup.sh: installing Python 3.11 from the deadsnakes PPA"
    apt_install software-properties-common gpg-agent \
      && add-apt-repository -y ppa:deadsnakes/ppa >/dev/null \
      && apt_install python3.11 python3.11-venv python3.11-dev && return 0
  else
    apt_install python3.11 python3.11-venv && return 0
  fi
  echo "setup.sh: installing python-build-standalone 3.11 in $STANDALONE"
  local archive
  archive=$(mktemp)
  curl -fsSL "$STANDALONE_URL" -o "$archive"
  echo "$STANDALONE_SHA256  $archive" | sha256sum -c --quiet -
  mkdir -p "$STANDALONE"
  tar -xzf "$archive" -C "$STANDALONE" --strip-components=1
  rm -f "$archive"
  chmod -R o+rX /opt/tiny-unet
}

# The sandbox: bubblewrap where the container allows user namespaces; else unprivileged uids with
# setpriv, prlimit and unshare (util-linux). curl and ca-certificates for the Python fallback.
missing=()
for pair in bwrap:bubblewrap setpriv:util-linux prlimit:util-linux unshare:util-linux curl:curl dot:graphviz; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}" ca-certificates

PYTHON=$(usable_python) || { install_python; PYTHON=$(usable_python); }
echo "setup.sh: $("$PYTHON" --version) at $PYTHON; requirements into $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SOURCE/requirements.txt"
chmod o+x "$ROOT" "$SOURCE"
chmod o+rx "$SOURCE/data"
chmod -R o+rX "$VENV" "$SOURCE/data/tfds"
chmod -R go-rwx "$SOURCE/data/tfds.private"  # the grader's private evaluation examples: root's alone
chmod 0755 "$SOURCE/run_autograder"
TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -c "import tensorflow, keras, nbgrader, papermill; print('setup.sh: TensorFlow', tensorflow.__version__, 'ready')"
# The reference splits every submission is measured against, computed once here rather than in every grading.
(cd "$SOURCE" && TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -m autograder.engines.gradescope warm) \
  || echo "setup.sh: note: the reference splits were not cached; each grading computes them (a few seconds)"
