# Sourced by the scripts in this folder: makes sure uv and the locked Python dependencies are installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
if ! command -v uv >/dev/null 2>&1; then
  export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "Installing uv (the Python package manager liveops uses) with pip ..." >&2
  python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
  if [ -x "$HOME/.local/bin/uv" ] && ! (env -i HOME="$HOME" bash -lc 'command -v uv' >/dev/null 2>&1); then
    echo "uv is installed in ~/.local/bin, which a new shell does not have on its PATH: before the README's" >&2
    echo "  \`uv run ...\` commands, run: export PATH=\"\$HOME/.local/bin:\$PATH\" (or add that line to ~/.bashrc)" >&2
  fi
fi
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  echo "liveops compiles its decoder's native part (native/) on install and needs a C compiler and Python's" >&2
  echo "  headers: on Debian/Ubuntu run \`apt-get install gcc python3-dev\`, then run this command again." >&2
  exit 1
fi
# --compile-bytecode: the dependencies' .pyc files are written once here, so no command compiles Prefect,
# Great Expectations and the rest from source again (where PYTHONDONTWRITEBYTECODE is set, as on CI and in
# many containers, every process would: 7-13 s more for a command that imports the whole stack, measured here).
uv sync --locked --quiet --compile-bytecode
