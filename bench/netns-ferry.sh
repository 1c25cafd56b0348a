# Shared by the benchmarks that run Ferry on a network of namespaces (cluster/netns.sh):
# bench-peers.sh and bench-rollout.sh (sourced, after bench/lib.sh). The script defines `die`,
# `cluster`, `work`, `net` (the netns.sh directory), `keep`, `nodes`, `FERRY`, `LEADER_PORT`,
# `FOLLOWER_PORT`, and the array `daemons`; it may define `bench_cleanup` (run on exit before the
# network goes down) and the array `follower_args` (more flags for every follower).
# shellcheck disable=SC2154,SC2034

netns=$cluster/netns.sh

# netns_trap SCRIPT: on exit (or INT/TERM) report a failure's logs, stop the daemons, take the
# network down and remove the work directory (kept with KEEP=1); exits with the script's status.
netns_trap() {
  bench_name=$1
  trap netns_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
netns_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  ((rc == 0)) || report_failure "$bench_name" "$rc" "$work" "$keep"
  stop_daemons
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  if ((keep)); then
    "$netns" down "$net" --keep-files >/dev/null 2>&1 || true
    echo "$bench_name: kept $work" >&2
  else
    "$netns" down "$net" >/dev/null 2>&1 || true
    rm -rf -- "$work"
  fi
  exit "$rc"
}

# netns_up UP_RATE NODE_RATE: the network of `nodes` nodes; defines NODES, UPSTREAM, IP_<host>,
# NS_<host>, DOCKER_HOST_<node> (see netns.sh env), node_names and setup_s (seconds it took).
netns_up() {
  local t0 env_text
  t0=$(now)
  env_text=$("$netns" up "$net" --nodes "$nodes" --upstream-rate "$1" --node-rate "$2")
  eval "$env_text"
  setup_s=$(echo "$(now) - $t0" | bc -l)
  read -r -a node_names <<<"$NODES"
}
in_ns() { local host=$1; shift; "$netns" exec "$net" "$host" "$@"; }
var() { local v="$1_$2"; echo "${!v}"; }

# daemon HOST LOG CMD...: start CMD detached in HOST's namespace (netns.sh exec execs nsenter,
# which execs CMD: the pid is CMD's).
daemon() {
  local host=$1 log=$2
  shift 2
  setsid "$netns" exec "$net" "$host" "$@" >>"$log" 2>&1 </dev/null &
  daemons+=($!)
}
wait_file() {
  for _ in $(seq 300); do [[ -s $1 ]] && return 0; sleep 0.1; done
  die "$2 did not start (no $1)"
}

# start_ferry TAG [LEADER-ARG...]: a fresh leader and followers (logs in $work/logs/TAG-*.log);
# returns once every node is reachable with its engine's version known. Sets `admin` and `ca`.
start_ferry() {
  local tag=$1 n ip
  shift
  rm -rf -- "$work/f"
  mkdir -p "$work/f"
  daemon leader "$work/logs/$tag-leader.log" "$FERRY" leader --data-dir "$work/f/leader" \
    --listen "$IP_leader:$LEADER_PORT" --tls-name "$IP_leader" --insecure-registry "$UPSTREAM" --log-level info --log-format json "$@"
  wait_file "$work/f/leader/address" "the leader"
  # Tokens are passed as files, never on command lines (`ps` shows those).
  admin=$work/f/leader/admin-token
  ca=$work/f/leader/ca.pem
  for n in "${node_names[@]}"; do
    ip=$(var IP "$n")
    daemon "$n" "$work/logs/$tag-$n.log" "$FERRY" follower --data-dir "$work/f/$n" \
      --listen "$ip:$FOLLOWER_PORT" --advertise "https://$ip:$FOLLOWER_PORT" \
      --leader "https://$IP_leader:$LEADER_PORT" --join-token-file "$work/f/leader/join-token" --name "$n" \
      --docker-host "$(var DOCKER_HOST "$n")" --log-level info --log-format json "${follower_args[@]}"
  done
  local ready=0
  for _ in $(seq 300); do
    ready=$(in_ns leader "$FERRY" nodes --leader "https://$IP_leader:$LEADER_PORT" --token-file "$admin" --ca "$ca" --json 2>/dev/null \
      | jq '[.nodes[] | select(.state == "reachable" and .dockerVersion != null)] | length' 2>/dev/null) || ready=0
    ((ready == nodes)) && return 0
    sleep 0.2
  done
  die "only $ready of $nodes followers ready (see $work/logs/$tag-*.log)"
}
