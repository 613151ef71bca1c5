#!/usr/bin/env bash
# The dashboard's browser libraries: `npm ci` from the committed lock (again only when the lock
# changed), then their UMD builds copied to static/dashboard/vendor/ (gitignored), which
# WhiteNoise serves. Run by scripts/setup.sh; without npm the dashboard page says what is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/../static/dashboard/vendor"
if ! command -v npm >/dev/null 2>&1; then
  echo "dashboard: npm not found; its chart libraries are not installed (the page will say so)" >&2
  exit 0
fi
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.package-lock.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
mkdir -p "$vendor"
for file in chart.js/dist/chart.umd.min.js cytoscape/dist/cytoscape.min.js; do
  cmp -s "$here/node_modules/$file" "$vendor/$(basename "$file")" || cp "$here/node_modules/$file" "$vendor/"
done
