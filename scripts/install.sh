#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine: Debian data packages,
# a virtualenv with the pinned Python stack, and the project itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# Measured HRTFs (libmysofa1), sampled instruments (FluidR3), offline speech (espeak-ng),
# headless Chromium for the listening-test page's browser test; the real media of the
# real-footage evaluation set (recorded voices, real photos and frames).
DEBS="libmysofa1 fluid-soundfont-gm espeak-ng chromium"
DEBS="$DEBS asterisk-core-sounds-en-wav darknet opencv-doc"
missing=""
for pkg in $DEBS; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# constraints.txt is a pip freeze of a resolved install: a fresh install is identical.
"$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[test]'
# These two declare dependencies we do not use (pyaudio needs a C toolchain and
# PortAudio; spatialaudiometrics pulls a plotting stack): their files are enough.
"$VENV/bin/python" -m pip install -q --no-deps -c constraints.txt tinysoundfont spatialaudiometrics
touch "$VENV/.installed"
echo "environment ready in $VENV"
