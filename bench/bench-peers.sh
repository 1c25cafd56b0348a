#!/usr/bin/env bash
# bench-peers.sh - one image onto N nodes four ways, over a shaped network of namespaces
# (cluster/netns.sh: upstream 100 Mbit/s, every other host 1 Gbit/s):
#   (a) every node's dockerd pulls from the upstream registry, all at once;
#   (b) every node's dockerd pulls through a CNCF pull-through cache on the leader's host;
#   (c) ferry install with the leader's --no-peers (followers pull from the leader only);
#   (d) ferry install with peers (default leader flags).
# Wall time, upstream bytes and the bytes the leader's host sent, per way; medians and ratios to
# docs/benchmarks.md (section "Peers:").
#
#   NODES=8 IMAGE_SIZE=200MiB LAYERS=4 RUNS=1 bench/bench-peers.sh
#
# Environment: NODES (8), IMAGE_SIZE (200MiB, split into LAYERS equal layers), LAYERS (4), RUNS (1),
# UPSTREAM_RATE (100mbit), NODE_RATE (1gbit), WAYS ("a b c d"), FERRY (.build/release/ferry),
# FERRY_REV (what to call the binary in the report; default: git describe of this tree),
# OUT (docs/benchmarks.md; OUT=/dev/null to leave it alone), KEEP=1 (keep the work directory),
# HANDOFF (the followers' --handoff: load or pull; default theirs), LEADER_ARGS (more leader flags for
# ways c and d, e.g. "--max-downloads 1").
# IP_leader, UPSTREAM and the rest come from 'netns.sh env'; the arrays are read through namerefs.
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
runs=${RUNS:-1}
up_rate=${UPSTREAM_RATE:-100mbit}
node_rate=${NODE_RATE:-1gbit}
read -r -a ways <<<"${WAYS:-a b c d}"
out=${OUT:-$root/docs/benchmarks.md}
keep=${KEEP:-0}
handoff=${HANDOFF:-}
read -r -a leader_args <<<"${LEADER_ARGS:-}"
rev=${FERRY_REV:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}
readonly LEADER_PORT=5050 FOLLOWER_PORT=5051 PROXY_PORT=5000
# Ethernet (14) + IPv4 (20) + TCP with timestamps (32): what tc counts per packet beyond the payload.
readonly HEADERS=66

die() { echo "bench-peers.sh: $*" >&2; exit 1; }
[[ -x $FERRY ]] || die "$FERRY not built (make bench-peers builds it)"
((EUID == 0)) || die "needs root (namespaces, tc, dockerd)"
[[ $nodes =~ ^[1-9][0-9]*$ ]] || die "NODES must be a positive number"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
total=$(size_bytes "$image_size") || die "bad IMAGE_SIZE '$image_size'"
[[ $layers =~ ^[1-9][0-9]*$ ]] || die "LAYERS must be a positive number"
up_bps=$(rate_bps "$up_rate") || die "bad UPSTREAM_RATE '$up_rate'"
rate_bps "$node_rate" >/dev/null || die "bad NODE_RATE '$node_rate'"
for w in "${ways[@]}"; do [[ $w == [abcd] ]] || die "WAYS: unknown way '$w' (a b c d)"; done
for c in docker skopeo jq bc curl; do command -v "$c" >/dev/null 2>&1 || die "'$c' not found (cluster/deps.sh)"; done

work=$(mktemp -d /tmp/fbp.XXXXXX)
net=$work/n
daemons=()   # pids of the ferry processes of the current way
started=$(now)
load0=$(cut -d' ' -f1 /proc/loadavg)

follower_args=()
[[ -z $handoff ]] || follower_args=(--handoff "$handoff")
bench_cleanup() { [[ ! -d $work/proxy ]] || "$cluster/registry.sh" stop "$work/proxy" >/dev/null 2>&1 || true; }
netns_trap bench-peers.sh

mkdir -p "$work/logs"

# --- the image ---------------------------------------------------------------------------------
layer_args=()
for i in $(seq "$layers"); do layer_args+=(--layer "bp$i:$((total / layers))"); done
"$cluster/gen-image.sh" --out "$work/image.tar" --tag bench/peers:1 "${layer_args[@]}"

# --- the network -------------------------------------------------------------------------------
netns_up "$up_rate" "$node_rate"

image=$UPSTREAM/bench/peers:1
in_ns upstream "$cluster/push-image.sh" "$work/image.tar" "$image" >/dev/null
manifest=$(in_ns upstream skopeo inspect --tls-verify=false --raw "docker://$image")
image_bytes=$(jq '[.config.size] + [.layers[].size] | add' <<<"$manifest")
image_id=$(jq -r '.config.digest' <<<"$manifest")
limit=$(echo "$image_bytes / $up_bps" | bc -l)
engine_driver=$(<"$net/d1/storage-driver")
printf 'bench-peers: %d nodes, image %s bytes in %d layers, limit %.1f s (%s upstream), setup %.1f s\n' \
  "$nodes" "$image_bytes" "$layers" "$limit" "$up_rate" "$setup_s"

# --- counters ----------------------------------------------------------------------------------
# Body bytes of blob GETs in the upstream registry's access log.
upstream_log_bytes() { "$cluster/registry.sh" blob-gets "$net/upstream" --bytes | awk '{s += $2} END {printf "%.0f\n", s}'; }
# tc counters of a host's eth0 egress: 'BYTES PACKETS'.
tx() { "$netns" bytes "$net" "$1" | awk '{print $1, $2}'; }
# snapshot: upstream-log-bytes up-tx up-pkts leader-tx leader-pkts nodes-tx nodes-pkts
snapshot() {
  local b p nb=0 np=0 n
  for n in "${node_names[@]}"; do read -r b p < <(tx "$n"); nb=$((nb + b)) np=$((np + p)); done
  local out
  out="$(upstream_log_bytes) $(tx upstream) $(tx leader) $nb $np"
  [[ $out =~ ^[0-9]+( [0-9]+){6}$ ]] || die "bad counters: '$out'"
  echo "$out"
}
# Wait until nothing more crosses the upstream link (a pull-through cache may still be storing a
# blob when the clients are done), at most 60 s.
settle() {
  local last="" cur
  for _ in $(seq 60); do
    cur=$(tx upstream)
    [[ $cur == "$last" ]] && return 0
    last=$cur
    sleep 1
  done
}

# --- engines -----------------------------------------------------------------------------------
has_image() { docker -H "$(var DOCKER_HOST "$1")" image inspect "$image_id" >/dev/null 2>&1; }
clear_engines() {
  local n
  for n in "${node_names[@]}"; do
    if has_image "$n"; then docker -H "$(var DOCKER_HOST "$n")" rmi -f "$image_id" >/dev/null; fi
    ! has_image "$n" || die "$n still holds $image_id after rmi"
  done
}
check_engines() {
  local n
  for n in "${node_names[@]}"; do has_image "$n" || die "way $1: $n does not hold $image_id"; done
}
# pull_all REF: every node's engine pulls REF at once.
pull_all() {
  local pids=() n pid failed=0
  for n in "${node_names[@]}"; do
    docker -H "$(var DOCKER_HOST "$n")" pull -q "$1" >>"$work/logs/pull-$n.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((!failed)) || die "a docker pull of $1 failed (see $work/logs/pull-*.log)"
}

# --- ferry -------------------------------------------------------------------------------------
ferry_install() {
  in_ns leader "$FERRY" install "$image" --leader "https://$IP_leader:$LEADER_PORT" --token-file "$admin" --ca "$ca" \
    --max-parallel "$nodes" >>"$work/logs/$1-install.log" 2>&1 \
    || die "ferry install failed (see $work/logs/$1-install.log)"
}

# blobs_done TAG T0: seconds from T0 until the last follower held every blob of the image: the
# latest "blob verified" line of any node (JSON logs, fractional seconds).
blobs_done() {
  local tag=$1 t0=$2 n t last=0
  for n in "${node_names[@]}"; do
    t=$(log_time "$t0" "$work/logs/$tag-$n.log" "blob verified" last)
    [[ -n $t ]] || { echo "?"; return; }
    last=$(echo "if ($t > $last) $t else $last" | bc -l)
  done
  echo "$last"
}

# --- one way -----------------------------------------------------------------------------------
declare -A wall upb upwire leaderb nodesb blobs
# measure WAY RUN: run way WAY from engines without the image; record its figures.
measure() {
  local w=$1 run=$2 s0 s1 t0 t1 snap
  clear_engines
  case "$w" in
    b)
      rm -rf -- "$work/proxy"
      in_ns leader "$cluster/registry.sh" start "$work/proxy" --addr "$IP_leader:$PROXY_PORT" \
        --proxy-remote "http://$UPSTREAM" >/dev/null ;;
    c) start_ferry "c$run" --no-peers "${leader_args[@]}" ;;
    d) start_ferry "d$run" "${leader_args[@]}" ;;
  esac
  snap=$(snapshot)
  read -r -a s0 <<<"$snap"
  t0=$(now)
  case "$w" in
    a) pull_all "$image" ;;
    b) pull_all "$IP_leader:$PROXY_PORT/bench/peers:1" ;;
    c|d) ferry_install "$w$run" ;;
  esac
  t1=$(now)
  check_engines "$w"
  settle
  snap=$(snapshot)
  read -r -a s1 <<<"$snap"
  case "$w" in
    b) "$cluster/registry.sh" stop "$work/proxy" >/dev/null
       cp -- "$work/proxy/registry.log" "$work/logs/proxy-$run.log"
       rm -rf -- "$work/proxy" ;;
    c|d) stop_daemons ;;
  esac
  local k=$w:$run
  wall[$k]=$(echo "$t1 - $t0" | bc -l)
  case "$w" in c|d) blobs[$k]=$(blobs_done "$w$run" "$t0") ;; *) blobs[$k]="" ;; esac
  if [[ $w == d ]] && ((run == runs)); then
    echo "timeline of (d), run $run (s after ferry install started):"
    local logs=() n
    for n in "${node_names[@]}"; do logs+=("$work/logs/$w$run-$n.log"); done
    timeline "$t0" "$work/logs/$w$run-leader.log" "${logs[@]}"
  fi
  upb[$k]=$((s1[0] - s0[0]))
  upwire[$k]=$((s1[1] - s0[1]))
  # TCP payload: tc bytes minus the headers of every packet (ACKs count for nothing).
  leaderb[$k]=$(((s1[3] - s0[3]) - HEADERS * (s1[4] - s0[4])))
  nodesb[$k]=$(((s1[5] - s0[5]) - HEADERS * (s1[6] - s0[6])))
  printf 'run %d (%s): %6.1f s  %.2f x limit  upstream %.2f x image  leader %.2f x  nodes %.2f x\n' \
    "$run" "$w" "${wall[$k]}" "$(echo "${wall[$k]} / $limit" | bc -l)" "$(echo "${upb[$k]} / $image_bytes" | bc -l)" \
    "$(echo "${leaderb[$k]} / $image_bytes" | bc -l)" "$(echo "${nodesb[$k]} / $image_bytes" | bc -l)"
}

# engines_alone RUN: every node's dockerd loads the image from a local archive (`docker save` of it
# from a node that holds it) at the same time, no network: what unpacking the image costs on this
# machine's shared cores and disk, a floor under every way's wall time.
declare -A engines
engines_alone() {
  local run=$1 saved=$work/saved.tar n pids=() pid t0 failed=0
  if [[ ! -f $saved ]]; then
    for n in "${node_names[@]}"; do
      if has_image "$n"; then docker -H "$(var DOCKER_HOST "$n")" save -o "$saved" "$image_id"; break; fi
    done
    [[ -f $saved ]] || return 0
  fi
  clear_engines
  t0=$(now)
  for n in "${node_names[@]}"; do
    docker -H "$(var DOCKER_HOST "$n")" load -q -i "$saved" >>"$work/logs/load-$n.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((!failed)) || die "a docker load failed (see $work/logs/load-*.log)"
  engines[e:$run]=$(printf '%.1f' "$(echo "$(now) - $t0" | bc -l)")
  printf 'run %d (engines alone): %6.1f s  %.2f x limit\n' "$run" "${engines[e:$run]}" "$(echo "${engines[e:$run]} / $limit" | bc -l)"
}

for run in $(seq "$runs"); do
  for w in "${ways[@]}"; do measure "$w" "$run"; done
  engines_alone "$run"
done

# --- report ------------------------------------------------------------------------------------
# med ARRAY WAY: the median of WAY's runs in ARRAY.
med() {
  local -n arr=$1
  local run
  for run in $(seq "$runs"); do echo "${arr[$2:$run]}"; done | median
}
raw() {
  local -n arr=$1
  local run vals=()
  for run in $(seq "$runs"); do vals+=("${arr[$2:$run]}"); done
  echo "${vals[*]}"
}
declare -A label=(
  [a]="(a) docker pull ×$nodes from upstream"
  [b]="(b) docker pull ×$nodes through a pull-through cache on the leader's host"
  [c]="(c) ferry install, leader \`--no-peers\`"
  [d]="(d) ferry install, peers"
)
mib=$(div "$total" 1048576 0)
section=$(mktemp)
{
  echo "## Peers: one image onto $nodes nodes — docker pull, a pull-through cache, Ferry without and with peers"
  echo
  build=""
  [[ $FERRY != */release/* ]] || build=", release build"
  [[ -z $handoff ]] || build="$build, followers with --handoff $handoff"
  ((${#leader_args[@]} == 0)) || build="$build, leader with ${leader_args[*]}"
  echo "\`make bench-peers\` ($(date -u +%Y-%m-%d), $(nproc) cores, ferry $rev$build): $( ((runs == 1)) && echo "one run" || echo "median of $runs runs, ways interleaved");"
  echo "load average $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end (the machine may be shared)."
  echo
  echo "Topology (\`cluster/netns.sh\`): network namespaces on one bridge: \`upstream\` (the CNCF registry 2.8.2),"
  echo "\`leader\`, and $nodes nodes, each with its own dockerd 20.10 ($engine_driver) in its namespace. \`tc tbf\` on both ends of"
  echo "every link: the upstream host's link at $up_rate, every other host's at $node_rate."
  printf 'Image: %d layers of %d MiB (incompressible; %s bytes as pushed, gzip). Physical limit: image ÷ upstream rate = %.1f s.\n' \
    "$layers" "$((mib / layers))" "$image_bytes" "$limit"
  echo "Every way starts from engines without the image; Ferry ways from fresh data directories, the leader and"
  echo "followers already running (\`ferry install --max-parallel $nodes\` from the leader's host)."
  echo
  echo "| way | wall (s) | × limit | every blob on every node (s, × limit) | upstream ÷ image | leader ÷ image | nodes' uplinks ÷ image |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for w in "${ways[@]}"; do
    wv=$(med wall "$w")
    bv="–"
    if [[ $w == [cd] ]] && [[ "$(raw blobs "$w")" != *"?"* ]]; then
      bv=$(med blobs "$w")
      bv=$(printf '%.1f (%.2f)' "$bv" "$(echo "$bv / $limit" | bc -l)")
    fi
    printf '| %s | %.1f | %.2f | %s | %.2f | %.2f | %.2f |\n' "${label[$w]}" "$wv" "$(echo "$wv / $limit" | bc -l)" "$bv" \
      "$(echo "$(med upb "$w") / $image_bytes" | bc -l)" "$(echo "$(med leaderb "$w") / $image_bytes" | bc -l)" \
      "$(echo "$(med nodesb "$w") / $image_bytes" | bc -l)"
  done
  echo
  if [[ -n ${engines[e:1]:-} ]]; then
    ev=$(med engines e)
    printf 'Engines alone (every node'"'"'s dockerd loading the image from a local archive at once, no network: the\n'
    printf 'floor this machine puts under any wall time): %.1f s, %.2f × limit (runs: %s s).\n' "$ev" "$(echo "$ev / $limit" | bc -l)" "$(raw engines e)"
    echo
  fi
  if [[ " ${ways[*]} " == *" d "* ]]; then
    dw=$(med wall d) du=$(med upb d) dl=$(med leaderb d)
    rt=$(div "$dw" "$limit") ru=$(div "$du" "$image_bytes") rl=$(div "$dl" "$image_bytes")
    verdict() { if (($(echo "$1" | bc -l))); then echo met; else echo "**not met**"; fi; }
    echo "Goals for (d) (issue 11):"
    echo
    echo "| goal | measured | |"
    echo "|---|---:|---|"
    if [[ "$(raw blobs d)" != *"?"* ]]; then
      rb=$(div "$(med blobs d)" "$limit")
      echo "| every blob on every node ≤ 1.15 × limit | $rb × | $(verdict "$rb <= 1.15") |"
    fi
    echo "| wall (runnable on every node) ≤ 1.30 × limit | $rt × | $(verdict "$rt <= 1.30") |"
    echo "| upstream = 1.00 × image | $ru × | $(verdict "$ru == 1.00") |"
    echo "| leader uplink ≤ 1.05 × image | $rl × | $(verdict "$rl <= 1.05") |"
    echo
  fi
  if [[ " ${ways[*]} " == *" b "* ]]; then
    echo "(b): the cache does not coalesce concurrent misses: each client's request streams its own copy from"
    echo "upstream, and one more copy is fetched to store the blob (registry 2.8.2, see cluster/README.md)."
  fi
  if [[ " ${ways[*]} " == *" d "* ]] && (($(echo "$(med nodesb d) < 0.05 * $image_bytes" | bc -l))); then
    echo "(d): the nodes sent almost nothing, so this build's followers served no peers: (d) is (c) again."
  fi
  echo
  echo "Every blob on every node (Ferry ways): from \`ferry install\` started to the last follower holding every"
  echo "verified blob (the latest \"blob verified\" line of any follower's JSON log): the transfer, without"
  echo "the loads into the $nodes engines, which share this machine's $(nproc) cores (\`docker pull\` interleaves the two)."
  echo "Wall: from the first pull (or \`ferry install\`) started to the last done. Upstream: body bytes of the blob"
  echo "GETs in the upstream registry's access log. Leader, nodes: what the leader's host (and the nodes' hosts, added"
  echo "up) sent, from \`tc -s\` counters on their links, minus $HEADERS B of Ethernet/IP/TCP headers per packet: the TCP"
  echo "payload. tbf counts Ethernet headers, so TCP carries at most ~95.6% of the nominal rate: the best time any"
  echo "way can reach is ≈1.05 × limit."
  echo
  echo "Raw runs:"
  echo
  for w in "${ways[@]}"; do
    echo "- ${w}: wall $(for v in $(raw wall "$w"); do printf '%.1f ' "$v"; done)s; upstream $(raw upb "$w") B" \
      "(tc, frames: $(raw upwire "$w")); leader $(raw leaderb "$w") B; nodes $(raw nodesb "$w") B"
  done
} >"$section"

replace_section "$out" "## Peers:" "$section"
cat "$section"
rm -f -- "$section"
printf 'bench-peers: done in %.0f s\n' "$(echo "$(now) - $started" | bc -l)"
