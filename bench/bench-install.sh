#!/usr/bin/env bash
# bench-install.sh - a cluster-wide `ferry install` vs every node's dockerd pulling straight from
# the registry (`docker pull` on every node at once), side by side in one run, for each image case
# (default: busybox + 2 x 50 MiB, busybox + 40 x 1 MiB) on each cluster size (default 1 and 4
# nodes). The registry's replies are shaped to UPSTREAM_RATE and the leader's to LEADER_RATE with
# `tc htb` on loopback. Medians and ratios to docs/benchmarks.md (section "Install"); with KEEP=1
# the JSON logs of each case's last run stay in bench/out/install/ and a per-node timeline (first
# blob received, last blob verified, engine load start and end) is printed.
#
#   RUNS=3 CASES="2x50M 40x1M" NODE_COUNTS="1 4" UPSTREAM_RATE=100mbit LEADER_RATE=200mbit \
#     HANDOFF=load LEADER_ARGS="--max-downloads 2" KEEP=1 bench/bench-install.sh
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
export FERRY=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-3}
cases=${CASES:-2x50M 40x1M}
node_counts=${NODE_COUNTS:-1 4}
upstream_rate=${UPSTREAM_RATE:-100mbit}
leader_rate=${LEADER_RATE:-200mbit}
handoff=${HANDOFF:-}
read -r -a leader_args <<<"${LEADER_ARGS:-}"
keep=${KEEP:-0}
out=${OUT:-$root/docs/benchmarks.md}
kept=${KEPT:-$root/bench/out/install}
[[ -x $FERRY ]] || { echo "bench-install.sh: $FERRY not built (make bench-install builds it)" >&2; exit 1; }
((EUID == 0)) || { echo "bench-install.sh: needs root (dockerd, tc)" >&2; exit 1; }
for c in docker skopeo jq bc tc; do command -v "$c" >/dev/null 2>&1 || { echo "bench-install.sh: '$c' not found (cluster/deps.sh)" >&2; exit 1; }; done
upstream_bps=$(rate_bps "$upstream_rate") || { echo "bench-install.sh: bad UPSTREAM_RATE '$upstream_rate'" >&2; exit 1; }
rate_bps "$leader_rate" >/dev/null || { echo "bench-install.sh: bad LEADER_RATE '$leader_rate'" >&2; exit 1; }

work=$(mktemp -d /tmp/fbi.XXXXXX)
shaped=
cleanup() {
  [[ -z $shaped ]] || lo_unshape
  "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Bytes the registry sent for blob GETs so far (its access log).
upstream_bytes() { "$cluster/registry.sh" blob-gets "$work/c/registry" --bytes | awk '{s+=$2} END {print s+0}'; }

# Shape on loopback what the registry sends (its source port: the upstream link) and what the
# leader sends (its port: the leader's link); everything else is unshaped.
shape() {
  lo_shape "$1:$upstream_rate" "$2:$leader_rate"
  shaped=1
}

unshape() { [[ -z $shaped ]] || { lo_unshape; shaped=; }; }

# up NODES IMAGE_TAR: a fresh cluster (empty engines, empty leader) with the image pushed, shaped.
up() {
  local count=$1 tar=$2 args=(--leader-arg --log-format --leader-arg json --leader-arg --log-level --leader-arg info
    --follower-arg --log-format --follower-arg json --follower-arg --log-level --follower-arg info)
  [[ -z $handoff ]] || args+=(--follower-arg --handoff --follower-arg "$handoff")
  for a in "${leader_args[@]}"; do args+=(--leader-arg "$a"); done
  "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
  unshape
  eval "$("$cluster/cluster.sh" up "$work/c" --nodes "$count" "${args[@]}")"
  export FERRY_LEADER FERRY_TOKEN FERRY_CA
  "$cluster/push-image.sh" "$tar" "$UPSTREAM/bench/app:1" >/dev/null
  local leader_port=${FERRY_LEADER##*:}
  shape "${UPSTREAM##*:}" "${leader_port%%/*}"
}

rows=() timelines=()
for case in $cases; do
  [[ $case =~ ^([0-9]+)x([0-9]+[KMG]?)$ ]] || { echo "bench-install.sh: bad case '$case' (COUNTxSIZE, e.g. 40x1M)" >&2; exit 1; }
  count=${BASH_REMATCH[1]} size=${BASH_REMATCH[2]}
  layer_args=()
  for i in $(seq "$count"); do layer_args+=(--layer "bi$case-$i:$size"); done
  tar=$work/image-$case.tar
  "$cluster/gen-image.sh" --out "$tar" --tag bench/app:1 --busybox "${layer_args[@]}"
  for nodes in $node_counts; do
    ferry_wall=() ferry_bytes=() docker_wall=() docker_bytes=() engine_wall=()
    image_bytes=
    for run in $(seq "$runs"); do
      up "$nodes" "$tar"
      if [[ -z $image_bytes ]]; then
        image_bytes=$(skopeo inspect --tls-verify=false --raw "docker://$UPSTREAM/bench/app:1" | jq '[.config.size] + [.layers[].size] | add')
      fi
      # (a) Ferry: one install to every node, from a fresh cluster.
      b0=$(upstream_bytes); t0=$(now)
      "$FERRY" install "$UPSTREAM/bench/app:1" --max-parallel "$nodes" >/dev/null
      t1=$(now); b1=$(upstream_bytes)
      ferry_wall+=("$(echo "$t1 - $t0" | bc -l)"); ferry_bytes+=("$((b1 - b0))")
      if ((run == runs)); then
        timelines+=("$case on $nodes node(s), last run (s after the install started):" "$(timeline "$t0" "$work/c/leader.log" "$work"/c/node*.log)")
        if ((keep)); then
          mkdir -p "$kept/$case-$nodes"
          cp "$work"/c/leader.log "$work"/c/node*.log "$kept/$case-$nodes/"
          echo "$t0" >"$kept/$case-$nodes/t0"
        fi
      fi
      # (b) every node's dockerd pulls from the registry, all at once (Ferry's image removed first).
      for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" rmi -f "$UPSTREAM/bench/app:1" >/dev/null; done
      b0=$(upstream_bytes); t0=$(now)
      pids=()
      for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" pull -q "$UPSTREAM/bench/app:1" >/dev/null & pids+=($!); done
      for pid in "${pids[@]}"; do wait "$pid"; done
      t1=$(now); b1=$(upstream_bytes)
      docker_wall+=("$(echo "$t1 - $t0" | bc -l)"); docker_bytes+=("$((b1 - b0))")
      # (c) the engines alone: every node's dockerd loads the image from a local archive (what
      # `docker save` wrote), all at once, no network: what unpacking costs on this machine.
      saved=$work/saved-$case.tar
      [[ -f $saved ]] || { v="DOCKER_HOST_${NODES%% *}"; docker -H "${!v}" save -o "$saved" "$UPSTREAM/bench/app:1"; }
      for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" rmi -f "$UPSTREAM/bench/app:1" >/dev/null; done
      t0=$(now)
      pids=()
      for node in $NODES; do v="DOCKER_HOST_$node"; docker -H "${!v}" load -q -i "$saved" >/dev/null & pids+=($!); done
      for pid in "${pids[@]}"; do wait "$pid"; done
      t1=$(now)
      engine_wall+=("$(echo "$t1 - $t0" | bc -l)")
      printf '%s, %d node(s), run %d: ferry %.2fs %s B   docker pull x%d %.2fs %s B   engines alone %.2fs\n' "$case" "$nodes" "$run" \
        "${ferry_wall[-1]}" "${ferry_bytes[-1]}" "$nodes" "${docker_wall[-1]}" "${docker_bytes[-1]}" "${engine_wall[-1]}"
    done
    fw=$(printf '%s\n' "${ferry_wall[@]}" | median); dw=$(printf '%s\n' "${docker_wall[@]}" | median)
    fb=$(printf '%s\n' "${ferry_bytes[@]}" | median); ew=$(printf '%s\n' "${engine_wall[@]}" | median)
    limit=$(echo "$image_bytes / $upstream_bps" | bc -l)
    mb=$(echo "$image_bytes / 1000000" | bc -l)
    rows+=("$(printf '| busybox + %d × %s (%.0f MB, limit %.1f s) | %d | %.2f s (%.2f×) | %.2f s (%.2f×) | **%.2f** | %.2f s (%.2f) | %.2f | %s / %s |' \
      "$count" "$size" "$mb" "$limit" "$nodes" "$dw" "$(echo "$dw / $limit" | bc -l)" "$fw" "$(echo "$fw / $limit" | bc -l)" \
      "$(echo "$fw / $dw" | bc -l)" "$ew" "$(echo "$ew / $dw" | bc -l)" "$(echo "$fb / $image_bytes" | bc -l)" \
      "$(printf '%.2f ' "${ferry_wall[@]}" | sed 's/ $//')" "$(printf '%.2f ' "${docker_wall[@]}" | sed 's/ $//')")")
  done
done

section=$(mktemp)
{
  echo "## Install: ferry install vs docker pull on every node"
  echo
  echo "\`make bench-install\` ($(date -u +%Y-%m-%d), release build, handoff \`${handoff:-default}\`${leader_args:+, leader with \`${leader_args[*]}\`}): each case on a fresh"
  echo "cluster of processes on loopback, every node with its own dockerd (Debian docker.io) and empty engine;"
  echo "the registry's replies shaped to $upstream_rate and the leader's to $leader_rate with \`tc htb\`."
  echo "Ferry: one \`ferry install\` to every node; docker: every node's \`docker pull\` at the same time,"
  echo "after Ferry's image was removed. Limit: one copy of the image over the upstream link. Median of $runs"
  echo "runs; upstream: bytes the registry sent for Ferry's install ÷ the image. Engines alone: every node's"
  echo "dockerd loading the image from a local archive (\`docker save\` of it) at the same time, no network: what"
  echo "unpacking the image costs on this machine's shared cores, a floor for any way (÷ docker in brackets)."
  echo
  echo "| image | nodes | \`docker pull\` on every node | \`ferry install\` | ferry ÷ docker | engines alone (÷ docker) | upstream × image | runs ferry / docker (s) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Timelines of each case's last run:"
  echo
  echo '```'
  printf '%s\n' "${timelines[@]}"
  echo '```'
} >"$section"

replace_section "$out" "## Install:" "$section"
cat "$section"
rm -f "$section"
