#!/usr/bin/env bash
# Renders an evaluation report with headless Chromium (Debian's `chromium` package) into a PNG.
#   scripts/screenshot_report.sh data/warehouse/eval/dt=2026-11-01/report.html report.png [WIDTHxHEIGHT]
# No network: the report is self-contained, and Chromium's background fetches are switched off.
set -euo pipefail
report=$(realpath "$1"); png=$(realpath -m "$2"); size=${3:-1400,2600}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium: apt-get install -y chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
    --window-size="${size/x/,}" --screenshot="$png" "file://$report" 2>/dev/null
echo "$png"
