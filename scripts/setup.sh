#!/usr/bin/env bash
# Sourced by the other scripts: a virtualenv in .venv with the pinned dependencies, fedplane itself
# (editable, for the fedplane-client command) and the dashboard's chart libraries.
# One line per step; what the tools print goes to var/logs/setup.log, and its last lines are shown
# when a step fails. Reinstalls only when a requirements file changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
SETUP_LOG="${FEDPLANE_VAR_DIR:-$ROOT/var}/logs/setup.log"
mkdir -p "$(dirname "$SETUP_LOG")"
: > "$SETUP_LOG"

# _setup_step N LABEL COMMAND...: "setup [N/4] LABEL... done (12s)"; on a terminal the line shows the
# seconds (and the packages pip has collected) while the command runs. A failure prints the log's tail.
_setup_step() {
  local n="$1" label="$2" started=$SECONDS pid
  shift 2
  printf 'setup [%s/4] %s...' "$n" "$label"
  echo "=== setup [$n/4] $label: $*" >> "$SETUP_LOG"
  ( "$@" ) >> "$SETUP_LOG" 2>&1 &
  pid=$!
  if [ -t 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      local collected
      collected="$(grep -c '^Collecting\|^Processing' "$SETUP_LOG" || true)"
      printf '\r\033[Ksetup [%s/4] %s... %ss%s' "$n" "$label" $((SECONDS - started)) \
        "$([ "$collected" -gt 0 ] && echo ", $collected packages collected")"
      sleep 1
    done
    printf '\r\033[Ksetup [%s/4] %s...' "$n" "$label"
  fi
  if wait "$pid"; then
    echo " done ($((SECONDS - started))s)"
  else
    echo " failed"
    { echo "---- the last lines of $SETUP_LOG ----"; tail -n 40 "$SETUP_LOG"; } >&2
    return 1
  fi
}

_setup_install() {
  "$ROOT/.venv/bin/python" -m pip install --upgrade pip &&
    "$ROOT/.venv/bin/python" -m pip install -r "$ROOT/requirements-dev.txt"
}

if [ -x "$ROOT/.venv/bin/python" ]; then
  echo "setup [1/4] virtualenv .venv... present"
else
  _setup_step 1 "virtualenv .venv ($PYTHON)" "$PYTHON" -m venv "$ROOT/.venv" || return 1
fi
stamp="$ROOT/.venv/.requirements.sha256"
want="$(cat "$ROOT"/requirements*.txt "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  _setup_step 2 "Python packages (requirements-dev.txt)" _setup_install || return 1
  # pyproject.toml's package-dir makes this a plain .pth (setuptools then has nothing to warn about)
  _setup_step 3 "fedplane (editable, for fedplane-client)" \
    "$ROOT/.venv/bin/python" -m pip install --no-deps --no-build-isolation -e "$ROOT" || return 1
  echo "$want" > "$stamp"
else
  echo "setup [2/4] Python packages (requirements-dev.txt)... up to date"
  echo "setup [3/4] fedplane (editable, for fedplane-client)... up to date"
fi
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The operator dashboard's chart libraries (npm ci from the committed lock, again only when it changed).
if command -v npm >/dev/null 2>&1; then
  _setup_step 4 "dashboard chart libraries (npm)" bash "$ROOT/fedplane/dashboard/frontend/build.sh" ||
    echo "setup: the dashboard's chart libraries are not built; /dashboard/ will say so" >&2
else
  echo "setup [4/4] dashboard chart libraries (npm)... skipped: npm not found; /dashboard/ will say so"
fi
