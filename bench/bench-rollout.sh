#!/usr/bin/env bash
# bench-rollout.sh - a rolling update of one container per node, from IMAGE:1 (busybox and a small
# layer) to IMAGE:2 (the same plus IMAGE_SIZE of new layers), over the shaped network of
# bench-peers (cluster/netns.sh: upstream 100 Mbit/s, every other host 1 Gbit/s), three ways:
#   (naive) the script users write today: on each node in turn, docker pull, then stop, remove and
#           recreate the container (same options) and wait until it is healthy;
#   (stop)  ferry rollout --order stop-first (one node at a time);
#   (start) ferry rollout --order start-first (one node at a time).
# Every way starts from engines holding IMAGE:1 only, with the container `app` of IMAGE:1 running
# (a user-set HEALTHCHECK: `true` every second), and ends with `app` of IMAGE:2 healthy on every
# node. Per way: total time, the time of each phase (pull or distribution, then the switches),
# and per-node downtime (the old container stopped → the new one healthy), median and max; to
# docs/benchmarks.md (section "Rollout:").
#
#   NODES=8 IMAGE_SIZE=200MiB LAYERS=4 bench/bench-rollout.sh
#
# Environment: NODES (8), IMAGE_SIZE (200MiB, in LAYERS equal layers), LAYERS (4), UPSTREAM_RATE
# (100mbit), NODE_RATE (1gbit), WAYS ("naive stop start"), MIN_HEALTHY (the rollouts'
# --min-healthy; 1s, unused with the health check), FERRY (.build/release/ferry), FERRY_REV,
# OUT (docs/benchmarks.md; OUT=/dev/null leaves it alone), KEEP=1 (keep the work directory).
# shellcheck disable=SC2154,SC2034
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
# shellcheck source=bench/netns-ferry.sh
source "$root/bench/netns-ferry.sh"
FERRY=${FERRY:-$root/.build/release/ferry}
nodes=${NODES:-8}
image_size=${IMAGE_SIZE:-200MiB}
layers=${LAYERS:-4}
up_rate=${UPSTREAM_RATE:-100mbit}
node_rate=${NODE_RATE:-1gbit}
read -r -a ways <<<"${WAYS:-naive stop start}"
min_healthy=${MIN_HEALTHY:-1s}
out=${OUT:-$root/docs/benchmarks.md}
keep=${KEEP:-0}
rev=${FERRY_REV:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}
readonly LEADER_PORT=5050 FOLLOWER_PORT=5051

die() { echo "bench-rollout.sh: $*" >&2; exit 1; }
[[ -x $FERRY ]] || die "$FERRY not built (make bench-rollout builds it)"
((EUID == 0)) || die "needs root (namespaces, tc, dockerd)"
[[ $nodes =~ ^[1-9][0-9]*$ ]] || die "NODES must be a positive number"
total=$(size_bytes "$image_size") || die "bad IMAGE_SIZE '$image_size'"
[[ $layers =~ ^[1-9][0-9]*$ ]] || die "LAYERS must be a positive number"
up_bps=$(rate_bps "$up_rate") || die "bad UPSTREAM_RATE '$up_rate'"
rate_bps "$node_rate" >/dev/null || die "bad NODE_RATE '$node_rate'"
for w in "${ways[@]}"; do [[ $w =~ ^(naive|stop|start)$ ]] || die "WAYS: unknown way '$w' (naive stop start)"; done
for c in docker skopeo jq bc; do command -v "$c" >/dev/null 2>&1 || die "'$c' not found (cluster/deps.sh)"; done

work=$(mktemp -d /tmp/fbr.XXXXXX)
net=$work/n
daemons=()   # pids of the ferry processes of the current way
started=$(now)
load0=$(cut -d' ' -f1 /proc/loadavg)

follower_args=()
netns_trap bench-rollout.sh

mkdir -p "$work/logs"

# --- the images --------------------------------------------------------------------------------
# gen-image.sh is deterministic: :2 shares :1's busybox and base layers and adds the update.
cmd="trap 'exit 0' TERM; while true; do /bin/busybox sleep 0.2; done"
"$cluster/gen-image.sh" --out "$work/v1.tar" --tag bench/rollout:1 --busybox --layer base:1M --cmd "$cmd"
layer_args=()
for i in $(seq "$layers"); do layer_args+=(--layer "br$i:$((total / layers))"); done
"$cluster/gen-image.sh" --out "$work/v2.tar" --tag bench/rollout:2 --busybox --layer base:1M "${layer_args[@]}" --cmd "$cmd"

# --- the network -------------------------------------------------------------------------------
netns_up "$up_rate" "$node_rate"
dk() { local n=$1; shift; docker -H "$(var DOCKER_HOST "$n")" "$@"; }

old=$UPSTREAM/bench/rollout:1
new=$UPSTREAM/bench/rollout:2
in_ns upstream "$cluster/push-image.sh" "$work/v1.tar" "$old" >/dev/null
in_ns upstream "$cluster/push-image.sh" "$work/v2.tar" "$new" >/dev/null
manifest=$(in_ns upstream skopeo inspect --tls-verify=false --raw "docker://$new")
old_manifest=$(in_ns upstream skopeo inspect --tls-verify=false --raw "docker://$old")
# The update: the blobs of :2 that :1 does not have.
update_bytes=$(jq -n --argjson a "$manifest" --argjson b "$old_manifest" \
  '[$a.config] + $a.layers | map(select(.digest as $d | ([$b.config] + $b.layers | map(.digest) | index($d)) == null)) | map(.size) | add')
new_id=$(jq -r '.config.digest' <<<"$manifest")
limit=$(echo "$update_bytes / $up_bps" | bc -l)
printf 'bench-rollout: %d nodes, update %s bytes in %d layers, limit %.1f s (%s upstream), setup %.1f s\n' \
  "$nodes" "$update_bytes" "$layers" "$limit" "$up_rate" "$setup_s"

# --- the engines: IMAGE:1 and its container `app` on every node --------------------------------
run_app() { dk "$1" run -d --name app --restart unless-stopped --network none --health-cmd true --health-interval 1s "$2" >/dev/null; }
healthy() { [[ $(dk "$1" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' app 2>/dev/null) == healthy ]]; }
wait_healthy() {
  for _ in $(seq 600); do healthy "$1" && return 0; sleep 0.1; done
  die "$1: app not healthy after 60 s"
}
reset_engines() {
  local n
  for n in "${node_names[@]}"; do
    dk "$n" rm -f app >/dev/null 2>&1 || true
    if dk "$n" image inspect "$new_id" >/dev/null 2>&1; then dk "$n" rmi -f "$new_id" >/dev/null; fi
    dk "$n" image inspect "$old" >/dev/null 2>&1 || dk "$n" pull -q "$old" >/dev/null
    run_app "$n" "$old"
  done
  for n in "${node_names[@]}"; do wait_healthy "$n"; done
}
check_engines() {
  local n image
  for n in "${node_names[@]}"; do
    image=$(dk "$n" inspect -f '{{.Image}}' app)
    [[ $image == "$new_id" ]] || die "way $1: $n's app runs $image, not $new_id"
    healthy "$n" || die "way $1: $n's app is not healthy"
    [[ $(dk "$n" ps -aq | wc -l) == 1 ]] || die "way $1: $n has more than one container"
  done
}

# --- one way -----------------------------------------------------------------------------------
# Body bytes of blob GETs in the upstream registry's access log so far.
upstream_log_bytes() { "$cluster/registry.sh" blob-gets "$net/upstream" --bytes | awk '{s += $2} END {printf "%.0f\n", s}'; }
declare -A total_s phase1 phase2 down_med down_max upb
declare -a downs

# naive: on each node in turn, pull, then stop, remove and run again; downtime until healthy.
way_naive() {
  local n t0 t1 p0 p1 s0 pulls=0 switches=0
  downs=()
  t0=$(now)
  for n in "${node_names[@]}"; do
    p0=$(now)
    dk "$n" pull -q "$new" >>"$work/logs/naive-pull.log" 2>&1 || die "docker pull on $n failed"
    p1=$(now)
    s0=$(now)
    dk "$n" stop app >/dev/null
    dk "$n" rm app >/dev/null
    run_app "$n" "$new"
    wait_healthy "$n"
    t1=$(now)
    pulls=$(echo "$pulls + $p1 - $p0" | bc -l)
    switches=$(echo "$switches + $t1 - $s0" | bc -l)
    downs+=("$(echo "$t1 - $s0" | bc -l)")
  done
  total_s[naive]=$(echo "$(now) - $t0" | bc -l)
  phase1[naive]=$pulls
  phase2[naive]=$switches
}

# stop|start: ferry rollout, one node at a time; phases from the leader's log, downtime from the
# rollout's final status.
way_ferry() {
  local w=$1 order t0 t1 log status
  order=$([[ $w == stop ]] && echo stop-first || echo start-first)
  start_ferry "$w"
  log=$work/logs/$w-leader.log
  t0=$(now)
  status=$(in_ns leader "$FERRY" rollout "$new" --leader "https://$IP_leader:$LEADER_PORT" --token-file "$admin" --ca "$ca" \
    --order "$order" --min-healthy "$min_healthy" --json 2>>"$work/logs/$w-rollout.log") || die "ferry rollout ($order) failed: $status"
  t1=$(now)
  echo "$status" >"$work/logs/$w-status.json"
  total_s[$w]=$(echo "$t1 - $t0" | bc -l)
  local switching
  switching=$(log_time "$t0" "$log" "rollout switches nodes" first)
  [[ -n $switching ]] || die "no 'rollout switches nodes' in $log"
  phase1[$w]=$switching
  phase2[$w]=$(echo "${total_s[$w]} - $switching" | bc -l)
  mapfile -t downs < <(jq -r '.nodes[].downtimeMilliseconds // 0 | . / 1000' <<<"$status")
  echo "timeline of ($w) (s after ferry rollout started): blobs and loads, then switches from $(printf '%.2f' "$switching")"
  local logs=() n
  for n in "${node_names[@]}"; do logs+=("$work/logs/$w-$n.log"); done
  timeline "$t0" "$log" "${logs[@]}"
  printf '    %-8s %10s %10s %10s\n' node switch-from switch-to downtime
  local from to
  for n in "${node_names[@]}"; do
    from=$(log_time "$t0" "$work/logs/$w-$n.log" "rollout work started" first)
    to=$(log_time "$t0" "$work/logs/$w-$n.log" "rollout work ended" first)
    printf '    %-8s %10.2f %10.2f %10.2f\n' "$n" "${from:-0}" "${to:-0}" \
      "$(jq -r --arg n "$n" '.nodes[] | select(.name == $n) | (.downtimeMilliseconds // 0) / 1000' <<<"$status")"
  done
  stop_daemons
}

for w in "${ways[@]}"; do
  reset_engines
  up0=$(upstream_log_bytes)
  case "$w" in
    naive) way_naive ;;
    *) way_ferry "$w" ;;
  esac
  check_engines "$w"
  upb[$w]=$(($(upstream_log_bytes) - up0))
  down_med[$w]=$(printf '%s\n' "${downs[@]}" | median)
  down_max[$w]=$(printf '%s\n' "${downs[@]}" | sort -g | tail -1)
  printf '%s: total %.1f s (phase 1 %.1f s, switches %.1f s), downtime median %.2f s, max %.2f s, upstream %.2f x update\n' "$w" \
    "${total_s[$w]}" "${phase1[$w]}" "${phase2[$w]}" "${down_med[$w]}" "${down_max[$w]}" "$(echo "${upb[$w]} / $update_bytes" | bc -l)"
done

# --- report ------------------------------------------------------------------------------------
declare -A label=(
  [naive]="naive script: on each node in turn \`docker pull\`, stop, rm, run"
  [stop]="\`ferry rollout --order stop-first\`"
  [start]="\`ferry rollout --order start-first\`"
)
mib=$(div "$total" 1048576 0)
section=$(mktemp)
{
  echo "## Rollout: a $mib MiB update onto $nodes nodes — the naive script and \`ferry rollout\`"
  echo
  build=""
  if [[ $FERRY == */release/* ]]; then build=", release build"; elif [[ $FERRY == */debug/* ]]; then build=", debug build"; fi
  echo "\`make bench-rollout\` ($(date -u +%Y-%m-%d), $(nproc) cores, ferry $rev$build): one run;"
  echo "load average $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end (the machine may be shared)."
  echo
  echo "Topology as in \"Peers\" (\`cluster/netns.sh\`): the upstream host's link at $up_rate, every other host's at"
  echo "$node_rate, a dockerd per node. On each node the container \`app\` of \`bench/rollout:1\` (busybox and a 1 MiB"
  printf 'layer) runs with a HEALTHCHECK (`true`, every second); `:2` adds %d layers of %d MiB (%s bytes of new blobs;\n' \
    "$layers" "$((mib / layers))" "$update_bytes"
  printf 'limit: update ÷ upstream rate = %.1f s). Each way starts from engines with `:1` only and ends with `app` of\n' "$limit"
  echo "\`:2\` healthy on every node; one node at a time (Ferry's default \`--max-parallel 1\`). Phase 1: the pulls"
  echo "(naive, added up) or the distribution (Ferry: rollout started → first switch handed out, leader's log);"
  echo "phase 2: the switches (added up, or first switch handed out → rollout over). Downtime per node: the old"
  echo "container stopped → the new one healthy (naive: \`docker stop\` issued → \`healthy\`; Ferry: its"
  echo "\`downtimeMilliseconds\`, zero gap with start-first). Upstream: body bytes of the blob GETs in the"
  echo "upstream registry's access log during the way, over the update's new blobs (Ferry's leader starts from an"
  echo "empty store each way, so it also fetches the busybox and 1 MiB layers the engines already hold)."
  echo
  echo "| way | total (s) | phase 1 (s) | phase 2 (s) | downtime median (s) | downtime max (s) | upstream ÷ update |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for w in "${ways[@]}"; do
    printf '| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |\n' "${label[$w]}" "${total_s[$w]}" "${phase1[$w]}" "${phase2[$w]}" \
      "${down_med[$w]}" "${down_max[$w]}" "$(echo "${upb[$w]} / $update_bytes" | bc -l)"
  done
} >"$section"

replace_section "$out" "## Rollout:" "$section"
cat "$section"
rm -f -- "$section"
printf 'bench-rollout: done in %.0f s\n' "$(echo "$(now) - $started" | bc -l)"
