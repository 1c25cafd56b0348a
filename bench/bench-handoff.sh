#!/usr/bin/env bash
# bench-handoff.sh - the Docker handoff alone: 'ferry install' to one node with an unshaped
# upstream (so the handoff dominates), --handoff load vs --handoff pull, on the 2-layer and the
# 40-small-layer image. Prints medians; nothing is written to docs/.
#
#   RUNS=3 FERRY=.build/debug/ferry bench/bench-handoff.sh
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
export FERRY=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-3}
[[ -x $FERRY ]] || { echo "bench-handoff.sh: $FERRY not built" >&2; exit 1; }
((EUID == 0)) || { echo "bench-handoff.sh: needs root (dockerd)" >&2; exit 1; }

work=$(mktemp -d /tmp/fbh.XXXXXX)
cleanup() { "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$cluster/gen-image.sh" --out "$work/two.tar" --tag bench/two:1 --busybox --layer "h1:50M" --layer "h2:50M" >/dev/null
forty=()
for i in $(seq 40); do forty+=(--layer "s$i:1M"); done
"$cluster/gen-image.sh" --out "$work/forty.tar" --tag bench/forty:1 --busybox "${forty[@]}" >/dev/null

for image in two forty; do
  for mode in load pull; do
    walls=()
    for run in $(seq "$runs"); do
      "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
      eval "$("$cluster/cluster.sh" up "$work/c" --nodes 1 --follower-arg --handoff --follower-arg "$mode")"
      export FERRY_LEADER FERRY_TOKEN FERRY_CA
      "$cluster/push-image.sh" "$work/$image.tar" "$UPSTREAM/bench/$image:1" >/dev/null
      # The leader fetches first, so that only the node's transfer and handoff are timed.
      "$FERRY" fetch "$UPSTREAM/bench/$image:1" >/dev/null
      t0=$(now)
      "$FERRY" install "$UPSTREAM/bench/$image:1" >/dev/null
      t1=$(now)
      walls+=("$(echo "$t1 - $t0" | bc -l)")
      printf '%s %s run %d: %.2fs\n' "$image" "$mode" "$run" "${walls[-1]}"
    done
    printf '%s %s median: %.2fs\n' "$image" "$mode" "$(printf '%s\n' "${walls[@]}" | median)"
  done
done
