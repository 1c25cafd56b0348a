#!/usr/bin/env bash
# bench-handoff.sh - the Docker handoff alone: 'ferry install' to one node with an unshaped
# upstream, --handoff load vs --handoff pull (which overlaps the transfer), on the 2-layer and the
# 40-small-layer image, the two handoffs interleaved run by run. Prints each run's timeline from
# the follower's log (seconds after 'ferry install' started) and the medians; nothing is written
# to docs/.
#
#   RUNS=3 FERRY=.build/debug/ferry PREFETCH=1 IMAGES="two forty" bench/bench-handoff.sh
#
# PREFETCH=1 (default): the leader fetches the image before 'ferry install' starts, so that the
# node's transfer and the handoff are what is timed; PREFETCH=0: the node receives while the
# leader fetches.
#
# Timeline columns (the follower's JSON log, millisecond times, notice/info lines of the target):
#   first  the first blob request to a source ('receiving blob')
#   held   every blob held and verified ('every blob held')
#   e0/e1  the engine handoff started ('loading into…' or 'pulling into…') and finished
#   wall   'ferry install' returned
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
export FERRY=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-3}
prefetch=${PREFETCH:-1}
[[ -x $FERRY ]] || { echo "bench-handoff.sh: $FERRY not built" >&2; exit 1; }
((EUID == 0)) || { echo "bench-handoff.sh: needs root (dockerd)" >&2; exit 1; }

work=$(mktemp -d /tmp/fbh.XXXXXX)
cleanup() { "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$cluster/gen-image.sh" --out "$work/two.tar" --tag bench/two:1 --busybox --layer "h1:50M" --layer "h2:50M" >/dev/null
forty=()
for i in $(seq 40); do forty+=(--layer "s$i:1M"); done
"$cluster/gen-image.sh" --out "$work/forty.tar" --tag bench/forty:1 --busybox "${forty[@]}" >/dev/null

# at T0 LOG MESSAGE... first|last: seconds from T0 to the first (or last) of MESSAGEs in LOG, or '-'.
at() {
  local t
  t=$(log_time "$@")
  if [[ -n $t ]]; then printf '%.2f' "$t"; else echo "-"; fi
}

declare -A results
for image in ${IMAGES:-two forty}; do
  for run in $(seq "$runs"); do
    for mode in load pull; do
      "$cluster/cluster.sh" down "$work/c" >/dev/null 2>&1 || true
      eval "$("$cluster/cluster.sh" up "$work/c" --nodes 1 --follower-arg --handoff --follower-arg "$mode" \
        --follower-arg --log-level --follower-arg info --follower-arg --log-format --follower-arg json)"
      export FERRY_LEADER FERRY_TOKEN FERRY_CA
      "$cluster/push-image.sh" "$work/$image.tar" "$UPSTREAM/bench/$image:1" >/dev/null
      ((prefetch == 0)) || "$FERRY" fetch "$UPSTREAM/bench/$image:1" >/dev/null
      t0=$(now)
      "$FERRY" install "$UPSTREAM/bench/$image:1" >/dev/null
      t1=$(now)
      wall=$(printf '%.2f' "$(echo "$t1 - $t0" | bc -l)")
      log=$work/c/node1.log
      first=$(at "$t0" "$log" 'receiving blob' first)
      held=$(at "$t0" "$log" 'every blob held' first)
      e0=$(at "$t0" "$log" 'loading into the Docker engine' 'pulling into the Docker engine while the blobs arrive' \
        'pulling into the Docker engine' first)
      e1=$(at "$t0" "$log" 'engine handoff finished' last)
      results[$image.$mode]+="$wall "
      printf '%s %-4s run %d: first %s  held %s  engine %s..%s  wall %s\n' "$image" "$mode" "$run" "$first" "$held" "$e0" "$e1" "$wall"
    done
  done
  for mode in load pull; do
    # shellcheck disable=SC2086
    printf '%s %s median wall: %.2fs (runs: %s)\n' "$image" "$mode" "$(printf '%s\n' ${results[$image.$mode]} | median)" "${results[$image.$mode]% }"
  done
done
