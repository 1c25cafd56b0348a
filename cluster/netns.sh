#!/usr/bin/env bash
# netns.sh - a small shaped network of hosts in network namespaces, for benchmarks: an upstream
# host running the CNCF registry, a leader host and N node hosts each with its own dockerd, all on
# one bridge, with tc tbf on every link.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
here=$(cd "$(dirname "$0")" && pwd)
readonly here
readonly REGISTRY_PORT=5000

usage() {
  cat <<USAGE
Usage: $PROG up DIR --nodes N [--upstream-rate RATE] [--node-rate RATE] [--subnet A.B.C]
                  [--no-engines] [--no-registry]
       $PROG down DIR [--keep-files]
       $PROG env DIR
       $PROG exec NAME CMD...        (NAME: a namespace, e.g. \$NS_leader from env)
       $PROG exec DIR HOST CMD...    (HOST: upstream, leader, node1..nodeN, switch)
       $PROG bytes DIR HOST

up     create, for DIR (keep it short: dockerd socket paths are limited to 107 bytes):
         namespaces PREFIX-sw (the switch: bridge br0), PREFIX-upstream, PREFIX-leader and
         PREFIX-node1..N, where PREFIX (fy + 6 hex) is derived from DIR's absolute path, so two
         DIRs never clash; every host has eth0 on the bridge (a veth pair; IPv6 off), addresses
         A.B.C.1 (upstream), .2 (leader), .11.. (nodes) on A.B.C.0/24 (default 10.250.0);
         tc tbf on both ends of every link: the upstream host's at RATE (default 100mbit)
         each way, every other host's at --node-rate (default 1gbit) each way;
         the CNCF registry in the upstream host on A.B.C.1:$REGISTRY_PORT (cluster/registry.sh,
         files in DIR/upstream), anonymous, plain HTTP;
         a dockerd per node in its namespace (cluster/dockerd.sh --netns, files in DIR/dN,
         --insecure-registry A.B.C.0/24).
       Then print the environment (see env). On failure, tears down what it made (the files in
       DIR stay, for the logs). Root only.
  --no-engines    no dockerd on the nodes
  --no-registry   no registry on the upstream host
down   stop the engines, the registry and any other process left in the namespaces (SIGTERM,
       SIGKILL after 10 s), delete the namespaces and remove DIR (--keep-files: keep it).
       Idempotent; works after a partial or failed up.
env    print shell assignments: NETNS_PREFIX, NETNS_SUBNET, NETNS_HOSTS, NODES, UPSTREAM
       (IP:PORT of the registry), UPSTREAM_RATE, NODE_RATE, and per host NS_<host> (the
       namespace) and IP_<host>, and per node DOCKER_HOST_<node>.
exec   run CMD in a host's network namespace (nsenter --net=/run/netns/NAME; the mount
       namespace, files and sockets are the caller's). Exit status is CMD's.
bytes  the tc counters of HOST's link: 'TX_BYTES TX_PACKETS RX_BYTES RX_PACKETS', TX what the
       host sent (its eth0 egress), RX what it received (the switch port's egress). Bytes are
       Ethernet frames without FCS (IP and TCP headers included).

RATE is a tc rate: 100mbit, 1gbit, 500kbit, 20mbps (bytes)...
The addresses exist only inside these namespaces: talk to them from inside (exec), never from
the root namespace. While up, a blackhole route for A.B.C.0/24 in the root namespace makes sure
nothing there leaks out by mistake.

Example:
  $PROG up /tmp/nn --nodes 2
  eval "\$($PROG env /tmp/nn)"
  $PROG exec "\$NS_node1" curl -s "http://\$UPSTREAM/v2/"
  docker -H "\$DOCKER_HOST_node1" pull "\$UPSTREAM/some/image:1"
  $PROG down /tmp/nn
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }
need_arg() { (($2 >= 2)) || die "$1 needs a value (see --help)"; }

# abs DIR: absolute path, whether or not DIR exists.
abs() { realpath -m -- "$1"; }

# prefix_of DIR: the namespace name prefix of DIR (fy + 6 hex of its absolute path).
prefix_of() { echo "fy$(printf '%s' "$(abs "$1")" | sha256sum | cut -c1-6)"; }

# rate_bps RATE: tc rate to bytes per second.
rate_bps() {
  local r=${1,,} num unit
  [[ $r =~ ^([0-9]+(\.[0-9]+)?)([a-z]*)$ ]] || return 1
  num=${BASH_REMATCH[1]} unit=${BASH_REMATCH[3]}
  case "$unit" in
    bit|'') echo "$num / 8" ;;
    kbit) echo "$num * 1000 / 8" ;;
    mbit) echo "$num * 1000000 / 8" ;;
    gbit) echo "$num * 1000000000 / 8" ;;
    bps) echo "$num" ;;
    kbps) echo "$num * 1000" ;;
    mbps) echo "$num * 1000000" ;;
    gbps) echo "$num * 1000000000" ;;
    *) return 1 ;;
  esac | bc | cut -d. -f1
}

# ns_run NS CMD...: CMD inside namespace NS.
ns_run() { local ns=$1; shift; nsenter "--net=/run/netns/$ns" "$@"; }

ns_exists() { [[ -e /run/netns/$1 ]]; }

# Our namespaces: every one named PREFIX-*.
our_namespaces() {
  local p=$1
  ip netns list 2>/dev/null | awk -v p="$p-" 'index($1, p) == 1 { print $1 }' || true
}

# shape NS DEV RATE: tc tbf at RATE on DEV's egress in NS. The bucket holds 4 ms at RATE but at
# least 128 KiB (GSO packets on veth are up to 64 KiB; tbf would otherwise split them); the
# queue holds 50 ms.
shape() {
  local ns=$1 dev=$2 rate=$3 bps burst
  bps=$(rate_bps "$rate") || die "bad rate '$rate'"
  burst=$((bps / 250))
  ((burst >= 131072)) || burst=131072
  tc -n "$ns" qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 50ms
}

# add_host DIR PREFIX HOST IP RATE PORT: namespace PREFIX-HOST with eth0 (IP/24) on the
# switch's bridge through port PORT, both directions shaped to RATE.
add_host() {
  local p=$2 host=$3 ip=$4 rate=$5 port=$6 ns sw
  ns=$p-$host sw=$p-sw
  ip netns add "$ns"
  no_ipv6 "$ns"
  ip -n "$ns" link set lo up
  # Both ends are created straight in their namespaces: no name is ever taken in the root one.
  ip -n "$sw" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$sw" link set "$port" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  shape "$ns" eth0 "$rate"
  shape "$sw" "$port" "$rate"
}

no_ipv6() {
  ns_run "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' \
    2>/dev/null || true
}

# Route metric of DIR's blackhole route (unique per prefix, so runs don't clash).
metric_of() { echo $((16#${1:2:6} % 100000 + 1000)); }

# The switch-side port of HOST.
port_of() {
  case "$1" in
    upstream) echo vup ;;
    leader) echo vld ;;
    node*) echo "vn${1#node}" ;;
    *) return 1 ;;
  esac
}

cmd_up() {
  [[ $# -ge 1 && $1 != -* ]] || die "up needs DIR (see --help)"
  local dir=$1 nodes="" up_rate=100mbit node_rate=1gbit subnet=10.250.0 engines=1 registry=1
  shift
  while (($#)); do
    case "$1" in
      --nodes) need_arg "$1" $#; nodes=$2; shift ;;
      --upstream-rate) need_arg "$1" $#; up_rate=$2; shift ;;
      --node-rate) need_arg "$1" $#; node_rate=$2; shift ;;
      --subnet) need_arg "$1" $#; subnet=$2; shift ;;
      --no-engines) engines=0 ;;
      --no-registry) registry=0 ;;
      -h|--help) usage; exit 0 ;;
      *) die "up: unknown argument '$1' (see --help)" ;;
    esac
    shift
  done
  [[ $nodes =~ ^[0-9]{1,3}$ ]] || die "--nodes must be 1..200"
  ((nodes >= 1 && nodes <= 200)) || die "--nodes must be 1..200"
  rate_bps "$up_rate" >/dev/null || die "bad --upstream-rate '$up_rate'"
  rate_bps "$node_rate" >/dev/null || die "bad --node-rate '$node_rate'"
  [[ $subnet =~ ^(10\.[0-9]{1,3}\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])\.[0-9]{1,3}|192\.168\.[0-9]{1,3})$ ]] \
    || die "--subnet must be the first three octets of a private /24, e.g. 10.250.0"
  ((EUID == 0)) || die "up needs root"
  local c
  for c in ip tc nsenter bc sha256sum; do command -v "$c" >/dev/null 2>&1 || die "'$c' not found"; done

  dir=$(abs "$dir")
  local p
  p=$(prefix_of "$dir")
  [[ -z $(our_namespaces "$p") ]] || die "namespaces $p-* exist already ($dir is up?): run '$PROG down $dir' first"
  mkdir -p -- "$dir"

  local hosts=(upstream leader) i
  for i in $(seq "$nodes"); do hosts+=("node$i"); done
  {
    echo "NETNS_PREFIX=$p"
    echo "NETNS_SUBNET=$subnet.0/24"
    echo "NETNS_HOSTS=\"${hosts[*]}\""
    echo "NODES=\"${hosts[*]:2}\""
    echo "UPSTREAM_RATE=$up_rate"
    echo "NODE_RATE=$node_rate"
    echo "NS_switch=$p-sw"
    echo "NS_upstream=$p-upstream"
    echo "IP_upstream=$subnet.1"
    echo "NS_leader=$p-leader"
    echo "IP_leader=$subnet.2"
    for i in $(seq "$nodes"); do
      echo "NS_node$i=$p-node$i"
      echo "IP_node$i=$subnet.$((10 + i))"
      if ((engines)); then echo "DOCKER_HOST_node$i=unix://$dir/d$i/docker.sock"; fi
    done
    if ((registry)); then echo "UPSTREAM=$subnet.1:$REGISTRY_PORT"; fi
  } >"$dir/netns.env"

  # From here on, a failure tears down what was made.
  up_dir=$dir
  trap 'rc=$?; if ((rc)); then echo "$PROG: up failed; tearing down (files kept in $up_dir)" >&2; cmd_down "$up_dir" --keep-files; fi' EXIT

  ip route add blackhole "$subnet.0/24" metric "$(metric_of "$p")"
  ip netns add "$p-sw"
  no_ipv6 "$p-sw"
  ip -n "$p-sw" link set lo up
  ip -n "$p-sw" link add br0 type bridge
  ip -n "$p-sw" link set br0 up

  add_host "$dir" "$p" upstream "$subnet.1" "$up_rate" "$(port_of upstream)"
  add_host "$dir" "$p" leader "$subnet.2" "$node_rate" "$(port_of leader)"
  for i in $(seq "$nodes"); do
    add_host "$dir" "$p" "node$i" "$subnet.$((10 + i))" "$node_rate" "$(port_of "node$i")"
  done

  if ((registry)); then
    ns_run "$p-upstream" "$here/registry.sh" start "$dir/upstream" --addr "$subnet.1:$REGISTRY_PORT" >/dev/null
  fi
  if ((engines)); then
    # A few at a time: on 2 cores, many engines starting at once can miss dockerd.sh's deadline.
    local pids=() failed=0 pid
    for i in $(seq "$nodes"); do
      "$here/dockerd.sh" start "$dir/d$i" --netns "$p-node$i" --insecure-registry "$subnet.0/24" >/dev/null &
      pids+=($!)
      if ((${#pids[@]} == 4)); then
        for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
        pids=()
      fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    ((!failed)) || die "a dockerd did not start (see $dir/d*/dockerd.log)"
  fi
  trap - EXIT
  cmd_env "$dir"
}

cmd_env() {
  [[ $# -eq 1 ]] || die "usage: $PROG env DIR"
  local dir
  dir=$(abs "$1")
  [[ -f $dir/netns.env ]] || die "no network in $dir (no $dir/netns.env)"
  cat -- "$dir/netns.env"
}

# stop_pids PID...: SIGTERM, then SIGKILL after 10 s.
stop_pids() {
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$((SECONDS + 10)) pid alive
  while :; do
    alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]})) || return 0
    if ((SECONDS >= deadline)); then
      echo "$PROG: sending SIGKILL to ${alive[*]}" >&2
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.2
      return 0
    fi
    sleep 0.1
  done
}

cmd_down() {
  [[ $# -ge 1 ]] || die "usage: $PROG down DIR [--keep-files]"
  local dir keep=0
  dir=$(abs "$1")
  shift
  while (($#)); do
    case "$1" in
      --keep-files) keep=1 ;;
      *) die "down: unknown argument '$1'" ;;
    esac
    shift
  done
  ((EUID == 0)) || die "down needs root"
  local p ns d pids=() pid
  p=$(prefix_of "$dir")
  # Engines first (they unmount their layers), in parallel; then the registry.
  for d in "$dir"/d*/; do
    [[ -d $d ]] || continue
    "$here/dockerd.sh" stop "${d%/}" >/dev/null 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  [[ ! -d $dir/upstream ]] || "$here/registry.sh" stop "$dir/upstream" >/dev/null 2>&1 || true
  # Anything else still in our namespaces (a caller's daemons, a leftover containerd). A process
  # keeps its namespace, and so the veth and the addresses, alive.
  local left=()
  for ns in $(our_namespaces "$p"); do
    mapfile -t -O "${#left[@]}" left < <(ip netns pids "$ns" 2>/dev/null || true)
  done
  ((${#left[@]} == 0)) || stop_pids "${left[@]}"
  for ns in $(our_namespaces "$p"); do
    ip netns del "$ns" 2>/dev/null || echo "$PROG: could not delete namespace $ns" >&2
  done
  # The blackhole route (its subnet from the env file, else any route with our metric).
  local metric
  metric=$(metric_of "$p")
  while read -r route; do
    [[ -n $route ]] || continue
    # shellcheck disable=SC2086 # the route spec is a list of words
    ip route del $route 2>/dev/null || true
  done < <(ip route show type blackhole | awk -v m="$metric" '$0 ~ (" metric " m "( |$)") { print }' || true)
  ((keep)) || rm -rf -- "$dir"
}

# exec NAME CMD... (NAME an existing namespace) or exec DIR HOST CMD...
cmd_exec() {
  (($# >= 2)) || die "usage: $PROG exec NAME CMD... | exec DIR HOST CMD..."
  local ns
  if [[ $1 =~ ^[A-Za-z0-9_.-]+$ ]] && ns_exists "$1"; then
    ns=$1
    shift
  elif [[ -f $1/netns.env ]]; then
    (($# >= 3)) || die "usage: $PROG exec DIR HOST CMD..."
    case "$2" in
      switch) ns=$(prefix_of "$1")-sw ;;
      *) ns=$(prefix_of "$1")-$2 ;;
    esac
    ns_exists "$ns" || die "no host '$2' in $1 (namespace $ns)"
    shift 2
  else
    die "'$1' is neither a network namespace nor a DIR that is up"
  fi
  exec nsenter "--net=/run/netns/$ns" "$@"
}

# tc_sent NS DEV: 'BYTES PACKETS' sent through DEV's root qdisc.
tc_sent() {
  tc -n "$1" -s qdisc show dev "$2" | awk '/^ Sent / { print $2, $4; exit }'
}

cmd_bytes() {
  [[ $# -eq 2 ]] || die "usage: $PROG bytes DIR HOST"
  local p port tx rx
  p=$(prefix_of "$1")
  port=$(port_of "$2") || die "unknown host '$2' (upstream, leader, nodeN)"
  ns_exists "$p-$2" || die "no host '$2' in $1"
  tx=$(tc_sent "$p-$2" eth0)
  rx=$(tc_sent "$p-sw" "$port")
  [[ -n $tx && -n $rx ]] || die "no tc counters for $2"
  echo "$tx $rx"
}

(($#)) || die "missing command: up, down, env, exec or bytes (see --help)"
sub=$1
shift
case "$sub" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  env) cmd_env "$@" ;;
  exec) cmd_exec "$@" ;;
  bytes) cmd_bytes "$@" ;;
  -h|--help|help) usage ;;
  *) die "unknown command '$sub' (up, down, env, exec, bytes; see --help)" ;;
esac
