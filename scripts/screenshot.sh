#!/usr/bin/env bash
# Renders the main screens of the real binary under Xvfb for the README:
#   docs/first-start.png   an empty embedded server: push your first update, or explore demo data
#   docs/main-window.png   the demo app: releases grouped by target, v3 rolling out, its status page
#   docs/halted.png        v2 selected: halted by the health gate, with Resume / Roll back
# Needs: apt-get install -y --no-install-recommends xvfb xauth imagemagick xdotool
# Usage: scripts/screenshot.sh   (builds the debug binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin="$PWD/target/debug/otadeck"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p -m 700 "$work/xdg"
export XDG_RUNTIME_DIR="$work/xdg" OTADECK_CONFIG=/nonexistent

# Runs the app on a virtual screen; after it settles, runs "$2" (xdotool steps) and saves "$1".
shoot() {
  local out="$1" steps="$2"
  xvfb-run -a -s "-screen 0 1440x900x24" sh -c "
    '$bin' >/dev/null 2>&1 & pid=\$!; sleep 8
    $steps
    import -window root -crop 1280x800+0+0 '$out'; kill \$pid"
  echo "wrote $out"
}

# 1. First start: the app's own embedded server on an empty data dir.
HOME="$work/fresh" XDG_DATA_HOME="$work/fresh/data" XDG_CONFIG_HOME="$work/fresh/config" \
  shoot docs/first-start.png ""

# 2 and 3. A server with the demo data (what "Explore with demo data" writes).
port=3961
export OTADECK_SERVER="http://127.0.0.1:$port" OTADECK_ACCESS_KEY="screenshot-admin-key-1"
OTADECK_ADMIN_KEY="$OTADECK_ACCESS_KEY" "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf "$OTADECK_SERVER/health" >/dev/null && break; sleep 0.1; done
"$bin" demo load >/dev/null
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/config"
shoot docs/main-window.png ""
# A click on the v2 row (the second release row of the table) selects it.
shoot docs/halted.png "xdotool mousemove 320 180 click 1; sleep 2"
