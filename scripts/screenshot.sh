#!/usr/bin/env bash
# Renders the main window of the real binary under Xvfb with a seeded server, for docs/main-window.png.
# Needs: apt-get install -y --no-install-recommends xvfb xauth imagemagick
# Usage: scripts/screenshot.sh [output.png]   (builds the debug binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/main-window.png}"
cargo build --quiet
bin="$PWD/target/debug/otadeck"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=3961
export OTADECK_SERVER="http://127.0.0.1:$port" OTADECK_ACCESS_KEY="screenshot-admin-key-1" OTADECK_CONFIG=/nonexistent
OTADECK_ADMIN_KEY="$OTADECK_ACCESS_KEY" "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf "$OTADECK_SERVER/health" >/dev/null && break; sleep 0.1; done

# A React Native project whose "build" writes a unique bundle, so each push is a new release.
cp -r tests/fixtures/rn-app "$work/field-service"
cd "$work/field-service"
cat > otadeck.toml <<'TOML'
[apps]
android = "FieldService-Android"
ios = "FieldService-iOS"
[build]
command = "echo \"console.log('$(date +%s%N)')\" > \"$OTADECK_BUNDLE_OUTPUT\""
TOML
push() { "$bin" release push-update --project . --create-apps --target-version "~1.4.0" "$@" >/dev/null 2>&1; }
push --rollout-percentage 100 --mandatory false --description "Fix typo on the login page"
"$bin" binary register --project . --app-version 1.4.0 --build-number 42 >/dev/null
push --build-number 42 --rollout-percentage 100 --description "Offline sync retry for build 42"
push --rollout-percentage 100 --mandatory false --description "New inspection checklist layout"
"$bin" release promote --project . --from Staging --to Production >/dev/null
push --rollout-percentage 25 --mandatory false --description "Faster photo upload"
for app in Inspections-Android Inspections-iOS; do
  curl -s -X POST -H "Authorization: Bearer $OTADECK_ACCESS_KEY" -H 'Content-Type: application/json' -d "{\"name\":\"$app\"}" "$OTADECK_SERVER/apps" >/dev/null
done
key=$(curl -s -H "Authorization: Bearer $OTADECK_ACCESS_KEY" "$OTADECK_SERVER/apps/FieldService-Android/deployments/Staging" | sed 's/.*"key":"\([^"]*\)".*/\1/')
report="$OTADECK_SERVER/v0.1/public/codepush/report_status"
for i in $(seq 40); do
  label=v3; [ "$i" -gt 28 ] && label=v4
  status=DeploymentSucceeded; [ "$i" -gt 37 ] && status=DeploymentFailed
  curl -s -X POST "$report/download" -H 'Content-Type: application/json' -d "{\"deployment_key\":\"$key\",\"label\":\"$label\",\"client_unique_id\":\"dev-$i\"}" >/dev/null
  curl -s -X POST "$report/deploy" -H 'Content-Type: application/json' -d "{\"deployment_key\":\"$key\",\"app_version\":\"1.4.0\",\"label\":\"$label\",\"status\":\"$status\",\"client_unique_id\":\"dev-$i\"}" >/dev/null
done
cd - >/dev/null

mkdir -p -m 700 "$work/xdg"
XDG_RUNTIME_DIR="$work/xdg" HOME="$work/home" xvfb-run -a -s "-screen 0 1440x900x24" sh -c "
  '$bin' >/dev/null 2>&1 & pid=\$!; sleep 8
  import -window root -crop 1280x800+0+0 '$out'; kill \$pid"
echo "wrote $out"
