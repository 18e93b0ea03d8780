#!/usr/bin/env bash
# Screenshots of the Dagster UI (every group of the asset lineage expanded, zoomed views, asset
# pages) in headless Chromium, for a person to look at: a webserver on a scratch Dagster home
# serves the code location, and lineage.mjs (playwright-core, from npm) drives Debian's
# `chromium`. The PNGs go to tools/ui_screenshots/out/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${UI_SCREENSHOTS_PORT:-3111}"
scratch="$(mktemp -d)"
cp "$root/.dagster_home/dagster.yaml" "$scratch/"
(cd "$here" && npm install --silent --no-audit --no-fund)
cd "$root"
DAGSTER_HOME="$scratch" WAREHOUSE_PATH="$scratch/warehouse.duckdb" REPORTS_DIR="$scratch/reports" \
  PATH="$root/.venv/bin:$PATH" setsid "$root/.venv/bin/dagster-webserver" -w workspace.yaml \
  -p "$port" -h 127.0.0.1 >"$scratch/webserver.log" 2>&1 &
server=$!
trap 'kill -TERM -- -"$server" 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/server_info" >/dev/null && break
  sleep 1
done
cd "$here" && node lineage.mjs "http://127.0.0.1:$port" "$here/out"
echo "Screenshots in $here/out"
