#!/usr/bin/env bash
# demo.sh - the main job on an embedded default: a local upstream registry holding a generated
# image, a Ferry leader, and a fetch with progress shown. Everything runs in a temp directory
# and is torn down at the end.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ferry=${FERRY:-$root/.build/debug/ferry}
[[ -x $ferry ]] || { echo "demo.sh: $ferry not built; run 'make build' first" >&2; exit 1; }

work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
leader_pid=
cleanup() {
  [[ -n $leader_pid ]] && kill "$leader_pid" 2>/dev/null && wait "$leader_pid" 2>/dev/null || true
  "$here/registry.sh" stop "$work/registry" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A loopback port nothing answers on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Starting an upstream registry (CNCF distribution) on loopback"
reg_port=$(free_port)
"$here/registry.sh" start "$work/registry" --port "$reg_port" >/dev/null
upstream=127.0.0.1:$reg_port
echo "upstream: http://$upstream"

step "Generating an image (busybox + 3 layers, ~96 MiB) and pushing it with skopeo"
"$here/gen-image.sh" --out "$work/app.tar" --tag demo/app:1.0 --busybox \
  --layer base:64M --layer libs:24M --layer app:8M
"$here/push-image.sh" "$work/app.tar" "$upstream/demo/app:1.0" >/dev/null
echo "pushed $upstream/demo/app:1.0"

step "Starting the Ferry leader (upstream capped at 32 MiB/s so progress is visible)"
"$ferry" leader --data-dir "$work/leader" --listen 127.0.0.1:0 --upstream-rate 32MiB/s \
  --default-registry "$upstream" --log-level warning &
leader_pid=$!
for _ in $(seq 100); do [[ -s $work/leader/address ]] && break; sleep 0.1; done
[[ -s $work/leader/address ]] || { echo "demo.sh: the leader did not start" >&2; exit 1; }
echo "leader: $(cat "$work/leader/address")  (admin token in $work/leader/admin-token)"

step "ferry fetch $upstream/demo/app:1.0"
"$ferry" fetch --data-dir "$work/leader" "$upstream/demo/app:1.0"

step "Fetching it again: already held, nothing crosses the upstream link"
"$ferry" fetch --data-dir "$work/leader" "$upstream/demo/app:1.0"

step "ferry images"
"$ferry" images --data-dir "$work/leader"

step "Upstream blob GETs per layer (registry access log): each layer crossed once"
"$here/registry.sh" blob-gets "$work/registry"

step "Pulling the image back from the leader's /v2/ API with skopeo (a standard client)"
leader_hostport=$(sed 's|^http://||' "$work/leader/address")
skopeo copy --quiet --src-tls-verify=false --src-creds "ferry:$(cat "$work/leader/admin-token")" \
  "docker://$leader_hostport/demo/app:1.0" "dir:$work/pulled"
echo "pulled $(ls "$work/pulled" | wc -l) files; manifest digest sha256:$(sha256sum "$work/pulled/manifest.json" | cut -c1-64)"

step "Done; tearing down"
