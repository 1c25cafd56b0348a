#!/usr/bin/env bash
# demo.sh - the main job on an embedded default: a local upstream registry with a generated
# image, a leader and two followers (each with its own Docker engine), a cluster-wide install
# with progress, the image run on every node, a rolling update of those containers to a new
# version (`ferry rollout`, one node at a time), then everything torn down.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export FERRY=${FERRY:-$root/.build/debug/ferry}
[[ -x $FERRY ]] || { echo "demo.sh: $FERRY not built; run 'make build' first" >&2; exit 1; }
((EUID == 0)) || { echo "demo.sh: needs root (it starts a dockerd per node)" >&2; exit 1; }

work=$(mktemp -d /tmp/fdemo.XXXXXX)
cleanup() {
  "$here/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Starting a local cluster: upstream registry, leader, 2 followers with their own dockerd"
eval "$("$here/cluster.sh" up "$work/c" --nodes 2 --upstream-rate 32MiB/s)"
export FERRY_LEADER FERRY_TOKEN FERRY_CA
echo "upstream: http://$UPSTREAM   leader: $FERRY_LEADER   nodes: $NODES"
echo "(the upstream link is capped at 32 MiB/s so that progress is visible)"

# The app says its version and runs until stopped (the trap makes SIGTERM end it at once).
app_cmd() { echo "echo demo/app $1 running; trap 'exit 0' TERM; while true; do sleep 1; done"; }

step "Generating an image (busybox + 3 layers, ~96 MiB) and pushing it to the upstream with skopeo"
"$here/gen-image.sh" --out "$work/app.tar" --tag demo/app:1.0 --busybox \
  --layer base:64M --layer libs:24M --layer app:8M --cmd "$(app_cmd 1.0)"
"$here/push-image.sh" "$work/app.tar" "$UPSTREAM/demo/app:1.0" >/dev/null
echo "pushed $UPSTREAM/demo/app:1.0"

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

step "Upstream blob GETs per layer (registry access log): each layer crossed once for both nodes"
"$here/registry.sh" blob-gets "$work/c/registry"

step "ferry status"
"$FERRY" status

step "A new version: demo/app:1.1 (only its top layer differs) pushed to the upstream"
"$here/gen-image.sh" --out "$work/app-1.1.tar" --tag demo/app:1.1 --busybox \
  --layer base:64M --layer libs:24M --layer app-1.1:8M --cmd "$(app_cmd 1.1)"
"$here/push-image.sh" "$work/app-1.1.tar" "$UPSTREAM/demo/app:1.1" >/dev/null
echo "pushed $UPSTREAM/demo/app:1.1"

step "ferry rollout $UPSTREAM/demo/app:1.1 (distribute to every node first, then switch one node at a time)"
"$FERRY" rollout "$UPSTREAM/demo/app:1.1" --max-parallel 1 --min-healthy 3s

step "Each node's demo-app container now runs 1.1, with its own configuration (name, label, env, restart policy)"
for node in $NODES; do
  host_var="DOCKER_HOST_$node"
  printf '%s: %s  [%s]\n' "$node" "$(docker -H "${!host_var}" logs demo-app 2>&1 | head -1)" \
    "$(docker -H "${!host_var}" inspect -f '{{.Config.Image}} label demo={{index .Config.Labels "demo"}} restart={{.HostConfig.RestartPolicy.Name}}' demo-app)"
done

step "Upstream blob GETs of both versions (registry access log): each blob crossed the upstream link once; 1.1 added only its new layer and config"
"$here/registry.sh" blob-gets "$work/c/registry"

step "Done; tearing down"
