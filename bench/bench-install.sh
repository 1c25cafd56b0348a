#!/usr/bin/env bash
# bench-install.sh - a cluster-wide install with Ferry vs every node's dockerd pulling straight
# from the registry, side by side in one run, over one shaped upstream link. Medians and ratios
# to docs/benchmarks.md (section "Install").
#
#   RUNS=3 NODES=3 LAYER=64M LAYERS=4 RATE=200mbit bench/bench-install.sh
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
export FERRY=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-3}
nodes=${NODES:-3}
layer=${LAYER:-64M}
layers=${LAYERS:-4}
rate=${RATE:-200mbit}
out=${OUT:-$root/docs/benchmarks.md}
[[ -x $FERRY ]] || { echo "bench-install.sh: $FERRY not built (make bench-install builds it)" >&2; exit 1; }
((EUID == 0)) || { echo "bench-install.sh: needs root (dockerd, tc)" >&2; exit 1; }

work=$(mktemp -d /tmp/fbi.XXXXXX)
shaped=
cleanup() {
  [[ -n $shaped ]] && tc qdisc del dev lo root 2>/dev/null || true
  "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Bytes the registry sent for blob GETs so far (its access log).
upstream_bytes() { "$cluster/registry.sh" blob-gets "$work/c/registry" --bytes | awk '{s+=$2} END {print s+0}'; }

# Shape what the registry sends (its source port) on loopback: the upstream link.
shape() {
  local port=$1
  tc qdisc add dev lo root handle 1: htb default 10 r2q 1000
  tc class add dev lo parent 1: classid 1:10 htb rate 100gbit quantum 200000
  tc class add dev lo parent 1: classid 1:20 htb rate "$rate" ceil "$rate" quantum 60000
  tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$port" 0xffff flowid 1:20
  shaped=1
}

up() {
  "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  [[ -n $shaped ]] && { tc qdisc del dev lo root 2>/dev/null || true; shaped=; }
  eval "$("$cluster/cluster.sh" up "$work/c" --nodes "$nodes")"
  export FERRY_LEADER FERRY_TOKEN FERRY_CA
  "$cluster/push-image.sh" "$work/image.tar" "$UPSTREAM/bench/app:1" >/dev/null
  shape "${UPSTREAM##*:}"
}

layer_args=()
for i in $(seq "$layers"); do layer_args+=(--layer "bi$i:$layer"); done
"$cluster/gen-image.sh" --out "$work/image.tar" --tag bench/app:1 --busybox "${layer_args[@]}"

ferry_wall=() ferry_bytes=() docker_wall=() docker_bytes=()
image_bytes=
for run in $(seq "$runs"); do
  up
  if [[ -z $image_bytes ]]; then
    image_bytes=$(skopeo inspect --tls-verify=false --raw "docker://$UPSTREAM/bench/app:1" | jq '[.config.size] + [.layers[].size] | add')
  fi
  # (a) Ferry: one install to every node, from a fresh cluster.
  b0=$(upstream_bytes); t0=$(now)
  "$FERRY" install "$UPSTREAM/bench/app:1" --max-parallel "$nodes" >/dev/null
  t1=$(now); b1=$(upstream_bytes)
  ferry_wall+=("$(echo "$t1 - $t0" | bc -l)"); ferry_bytes+=("$((b1 - b0))")

  # (b) every node's dockerd pulls from the registry, all at once (images removed first).
  for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" rmi -f "$UPSTREAM/bench/app:1" >/dev/null; done
  b0=$(upstream_bytes); t0=$(now)
  pids=()
  for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" pull -q "$UPSTREAM/bench/app:1" >/dev/null & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
  t1=$(now); b1=$(upstream_bytes)
  docker_wall+=("$(echo "$t1 - $t0" | bc -l)"); docker_bytes+=("$((b1 - b0))")
  printf 'run %d: ferry %.1fs %s B   docker pull x%d %.1fs %s B\n' "$run" "${ferry_wall[-1]}" "${ferry_bytes[-1]}" \
    "$nodes" "${docker_wall[-1]}" "${docker_bytes[-1]}"
done

fw=$(printf '%s\n' "${ferry_wall[@]}" | median); fb=$(printf '%s\n' "${ferry_bytes[@]}" | median)
dw=$(printf '%s\n' "${docker_wall[@]}" | median); db=$(printf '%s\n' "${docker_bytes[@]}" | median)
rate_bytes=$(echo "$rate" | sed -e 's/gbit$/*1000000000\/8/' -e 's/mbit$/*1000000\/8/' -e 's/kbit$/*1000\/8/' | bc)
limit=$(echo "$image_bytes / $rate_bytes" | bc -l)
mib=$(echo "$image_bytes / 1048576" | bc -l)

section=$(mktemp)
{
  echo "## Install: ferry install vs docker pull on every node"
  echo
  printf 'Image: busybox + %d layers of %s (%.0f MiB, incompressible), %d nodes, each with its own\n' "$layers" "$layer" "$mib" "$nodes"
  echo "dockerd (Debian docker.io 20.10), processes on loopback; the registry's replies shaped to $rate with"
  echo "\`tc htb\` (the upstream link). Ferry: \`ferry install\` from a fresh cluster (release build), all nodes loading"
  echo "at once; docker: every node's \`docker pull\` at the same time. Median of $runs runs, interleaved."
  printf 'Physical limit: one copy over the upstream link = %.1f s.\n' "$limit"
  echo
  echo "| | wall (s) | × limit | upstream bytes | × image |"
  echo "|---|---:|---:|---:|---:|"
  printf '| ferry install | %.1f | %.2f | %s | %.2f |\n' "$fw" "$(echo "$fw / $limit" | bc -l)" "$fb" "$(echo "$fb / $image_bytes" | bc -l)"
  printf '| docker pull ×%d | %.1f | %.2f | %s | %.2f |\n' "$nodes" "$dw" "$(echo "$dw / $limit" | bc -l)" "$db" "$(echo "$db / $image_bytes" | bc -l)"
  printf '| **ratio ferry / docker** | **%.2f** | | **%.2f** | |\n' "$(echo "$fw / $dw" | bc -l)" "$(echo "$fb / $db" | bc -l)"
  echo
  echo "Raw runs — ferry: $(printf '%.1f ' "${ferry_wall[@]}")s, ${ferry_bytes[*]} B; docker: $(printf '%.1f ' "${docker_wall[@]}")s, ${docker_bytes[*]} B."
  echo
  echo "Ferry moves one copy over the upstream link (1.00 × the image) where the engines move one per node."
  echo "Its time is the upstream download, which the nodes receive by cut-through (mesh over TLS) while"
  echo "it arrives, then verification and the load into each engine, which start after a node's last blob;"
  echo "the three engines share this machine's disk and cores."
} >"$section"

replace_section "$out" "## Install:" "$section"
cat "$section"
rm -f "$section"
