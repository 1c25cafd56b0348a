#!/usr/bin/env bash
# demo.sh - the main job on an embedded default: what a vendor's customer has, a vendor's
# password-protected registry with a generated image behind `ferry proxy` (an app and a licence),
# and a leader holding only the licence (`--registry-auth`, `--mirror`) with two followers (each
# with its own Docker engine); a cluster-wide install with progress under the vendor's original
# name, the image run on every node, a rolling update of those containers to a new version
# (`ferry rollout`, one node at a time), then everything torn down.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export FERRY=${FERRY:-$root/.build/debug/ferry}
[[ -x $FERRY ]] || { echo "demo.sh: $FERRY not built; run 'make build' first" >&2; exit 1; }
((EUID == 0)) || { echo "demo.sh: needs root (it starts a dockerd per node)" >&2; exit 1; }

work=$(mktemp -d /tmp/fdemo.XXXXXX)
proxy_pid=
cleanup() {
  "$here/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  [[ -z $proxy_pid ]] || kill -TERM "$proxy_pid" 2>/dev/null || true
  "$here/registry.sh" stop "$work/vendor" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

PROG=demo.sh
# shellcheck source=cluster/lib.sh
source "$here/lib.sh"

step "The vendor's side: a password-protected registry (htpasswd) and ferry proxy in front of it"
vendor_password=vendor-$RANDOM$RANDOM
VENDOR=$("$here/registry.sh" start "$work/vendor" --port "$(free_port)" --auth htpasswd --user vendor --password "$vendor_password")
VENDOR=${VENDOR#http://}
(umask 077; printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$VENDOR" "$(printf 'vendor:%s' "$vendor_password" | base64 -w0)" >"$work/upstream.json")
"$FERRY" proxy serve --data-dir "$work/proxy" --listen 127.0.0.1:0 --upstream-auth "$work/upstream.json" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 200); do [[ -s $work/proxy/address ]] && break; sleep 0.1; done
[[ -s $work/proxy/address ]] || { cat "$work/proxy.log" >&2; echo "demo.sh: ferry proxy serve did not start" >&2; exit 1; }
PROXY=$(sed 's@^http://@@' "$work/proxy/address")
"$FERRY" proxy app add demo --registry "vendor=$VENDOR" --data-dir "$work/proxy"
licence=$("$FERRY" proxy licence create demo --customer demo-site --expires 1d --data-dir "$work/proxy")
echo "vendor registry: http://$VENDOR (password-protected)   proxy: http://$PROXY   licence for 'demo-site' created (its ID is printed once; it goes only to the leader)"

# The app says its version and runs until stopped (the trap makes SIGTERM end it at once).
app_cmd() { echo "echo demo/app $1 running; trap 'exit 0' TERM; while true; do sleep 1; done"; }

step "Generating an image (busybox + 3 layers, ~96 MiB) and pushing it to the vendor's registry with skopeo"
"$here/gen-image.sh" --out "$work/app.tar" --tag demo/app:1.0 --busybox \
  --layer base:64M --layer libs:24M --layer app:8M --cmd "$(app_cmd 1.0)"
"$here/push-image.sh" "$work/app.tar" "$VENDOR/demo/app:1.0" --creds "vendor:$vendor_password" >/dev/null
echo "pushed $VENDOR/demo/app:1.0"

step "The customer's side: a leader holding only the licence (--registry-auth, --mirror), 2 followers with their own dockerd"
(umask 077; printf '{"auths":{"%s":{"username":"demo-site","password":"%s"}}}\n' "$PROXY" "$licence" >"$work/registry-auth.json")
ORIGINAL=registry.vendor.example
eval "$("$here/cluster.sh" up "$work/c" --nodes 2 --upstream-rate 32MiB/s --leader-arg --registry-auth --leader-arg "$work/registry-auth.json" \
  --leader-arg --mirror --leader-arg "$ORIGINAL=$PROXY/proxy/demo/vendor")"
export FERRY_LEADER FERRY_TOKEN FERRY_CA
echo "leader: $FERRY_LEADER   nodes: $NODES   $ORIGINAL/… is fetched through http://$PROXY/proxy/demo/vendor/…"
echo "(the leader's upstream link is capped at 32 MiB/s so that progress is visible)"
UPSTREAM=$ORIGINAL

step "ferry nodes"
"$FERRY" nodes

step "ferry install $UPSTREAM/demo/app:1.0 (every node, at most 2 loading at once)"
"$FERRY" install "$UPSTREAM/demo/app:1.0" --max-parallel 2

step "Running a container of the image on every node (docker run -d --name demo-app)"
for node in $NODES; do
  host_var="DOCKER_HOST_$node"
  docker -H "${!host_var}" run -d --name demo-app --network none --restart unless-stopped \
    --label demo=ferry -e GREETING=hello "$UPSTREAM/demo/app:1.0" >/dev/null
  printf '%s: %s\n' "$node" "$(docker -H "${!host_var}" logs demo-app 2>&1 | head -1)"
done

step "Installing again: already in every engine, nothing crosses the upstream link"
"$FERRY" install "$UPSTREAM/demo/app:1.0"

step "Blob GETs per layer at the vendor's registry (its access log): each layer crossed once for both nodes"
"$here/registry.sh" blob-gets "$work/vendor"

step "The proxy's audit of the licence (ferry proxy usage)"
"$FERRY" proxy usage --data-dir "$work/proxy"

step "ferry status"
"$FERRY" status

step "A new version: demo/app:1.1 (only its top layer differs) pushed to the vendor's registry"
"$here/gen-image.sh" --out "$work/app-1.1.tar" --tag demo/app:1.1 --busybox \
  --layer base:64M --layer libs:24M --layer app-1.1:8M --cmd "$(app_cmd 1.1)"
"$here/push-image.sh" "$work/app-1.1.tar" "$VENDOR/demo/app:1.1" --creds "vendor:$vendor_password" >/dev/null
echo "pushed $VENDOR/demo/app:1.1"

step "ferry rollout $UPSTREAM/demo/app:1.1 (distribute to every node first, then switch one node at a time)"
"$FERRY" rollout "$UPSTREAM/demo/app:1.1" --max-parallel 1 --min-healthy 3s

step "Each node's demo-app container now runs 1.1, with its own configuration (name, label, env, restart policy)"
for node in $NODES; do
  host_var="DOCKER_HOST_$node"
  printf '%s: %s  [%s]\n' "$node" "$(docker -H "${!host_var}" logs demo-app 2>&1 | head -1)" \
    "$(docker -H "${!host_var}" inspect -f '{{.Config.Image}} label demo={{index .Config.Labels "demo"}} restart={{.HostConfig.RestartPolicy.Name}}' demo-app)"
done

step "Blob GETs of both versions at the vendor's registry: each blob crossed once; 1.1 added only its new layer and config"
"$here/registry.sh" blob-gets "$work/vendor"

step "Done; tearing down"
