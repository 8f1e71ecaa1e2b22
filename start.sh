#!/usr/bin/env bash
# MindPulse front door: ./start.sh [recipe] [args...]
# Installs uv and just when they are missing (in a private venv under .tools/, no sudo), syncs the
# workspace from the lock, then runs `just <recipe>` (default: bring the platform up).
set -euo pipefail
cd "$(dirname "$0")"

tools_dir="$PWD/.tools"
export PATH="$tools_dir/bin:$HOME/.local/bin:$PATH"

need_tool() { ! command -v "$1" >/dev/null 2>&1; }

if need_tool uv || need_tool just; then
  python=${PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "start.sh: MindPulse needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
    exit 1
  fi
  echo "start.sh: installing uv and just into .tools/ ..."
  "$python" -m venv "$tools_dir"
  "$tools_dir/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.9,<0.14" "rust-just>=1.36"
fi

uv sync --frozen --all-packages --quiet
exec just "$@"
