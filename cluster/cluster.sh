#!/usr/bin/env bash
# cluster.sh - a local Ferry cluster on one machine: an upstream registry, a leader, and N
# followers, each follower with its own dockerd. Used by the demo and the benchmarks.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ferry=${FERRY:-$root/.build/debug/ferry}

usage() {
  cat <<USAGE
Usage: $PROG up DIR [--nodes N] [--upstream-rate RATE] [--leader-arg ARG]... [--follower-arg ARG]...
       $PROG down DIR
       $PROG env DIR

up    start, under DIR (keep it short: dockerd socket paths are limited to 107 bytes):
        DIR/registry   the CNCF registry on a free loopback port (anonymous)
        DIR/leader     'ferry leader' on a free loopback port
        DIR/dN         a private dockerd per node (cluster/dockerd.sh)
        DIR/nodeN      'ferry follower' nodeN joined to the leader, using DIR/dN's engine
      then print the environment (see env). Needs root (dockerd). Default 2 nodes.
down  stop everything under DIR (followers, leader, engines, registry) and remove DIR.
env   print shell assignments: UPSTREAM, FERRY_LEADER, FERRY_TOKEN, FERRY_CA, NODES, and a
      DOCKER_HOST_<node> per node.

Set FERRY=path to use another ferry binary (default: .build/debug/ferry).
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

# shellcheck source=cluster/lib.sh
source "$here/lib.sh"

wait_file() {
  local file=$1 what=$2
  for _ in $(seq 200); do [[ -s $file ]] && return 0; sleep 0.1; done
  die "$what did not start"
}

start_daemon() {  # start_daemon PIDFILE LOG CMD...
  local pidfile=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

stop_pidfile() {
  local pidfile=$1 pid
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  stop_pid "$pid" 10 ferry
  rm -f "$pidfile"
}

cmd_up() {
  [[ $# -ge 1 ]] || die "up needs DIR (see --help)"
  local dir=$1 nodes=2 rate="" leader_args=() follower_args=()
  shift
  while (($#)); do
    case "$1" in
      --nodes) nodes=$2; shift ;;
      --upstream-rate) rate=$2; shift ;;
      --leader-arg) leader_args+=("$2"); shift ;;
      --follower-arg) follower_args+=("$2"); shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "up: unknown argument '$1' (see --help)" ;;
    esac
    shift
  done
  [[ $nodes =~ ^[0-9]+$ ]] || die "--nodes must be a number"
  [[ -x $ferry ]] || die "$ferry is not built; run 'make build'"
  ((EUID == 0)) || die "up needs root (it starts dockerd)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)

  "$here/registry.sh" start "$dir/registry" --port "$(free_port)" >/dev/null
  local leader_port
  leader_port=$(free_port)
  [[ -z $rate ]] || leader_args+=(--upstream-rate "$rate")
  start_daemon "$dir/leader.pid" "$dir/leader.log" "$ferry" leader --data-dir "$dir/leader" \
    --listen "127.0.0.1:$leader_port" --log-level notice "${leader_args[@]}"
  wait_file "$dir/leader/address" "the leader"

  local pids=() i
  for i in $(seq "$nodes"); do "$here/dockerd.sh" start "$dir/d$i" >/dev/null & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || die "a dockerd did not start (see $dir/d*/dockerd.log)"; done

  # The join token is read from the leader's file, never put on a command line (`ps` shows those).
  for i in $(seq "$nodes"); do
    start_daemon "$dir/node$i.pid" "$dir/node$i.log" "$ferry" follower --data-dir "$dir/node$i" \
      --listen "127.0.0.1:$(free_port)" --leader "$(<"$dir/leader/address")" --join-token-file "$dir/leader/join-token" \
      --name "node$i" --docker-host "unix://$dir/d$i/docker.sock" --log-level notice "${follower_args[@]}"
  done
  for i in $(seq "$nodes"); do wait_file "$dir/node$i/address" "follower node$i"; done
  echo "$nodes" >"$dir/nodes"
  cmd_env "$dir"
}

cmd_env() {
  local dir=$1 i
  [[ -f $dir/nodes ]] || die "no cluster in $dir"
  echo "UPSTREAM=$(sed -n 's/^  addr: "\(.*\)"$/\1/p' "$dir/registry/config.yml" | head -1)"
  echo "FERRY_LEADER=$(<"$dir/leader/address")"
  echo "FERRY_TOKEN=$(<"$dir/leader/admin-token")"
  echo "FERRY_CA=$dir/leader/ca.pem"
  echo "NODES=\"$(for i in $(seq "$(<"$dir/nodes")"); do printf 'node%s ' "$i"; done | sed 's/ $//')\""
  for i in $(seq "$(<"$dir/nodes")"); do echo "DOCKER_HOST_node$i=unix://$dir/d$i/docker.sock"; done
}

cmd_down() {
  local dir=$1 f
  [[ -d $dir ]] || return 0
  for f in "$dir"/node*.pid; do [[ -e $f ]] && stop_pidfile "$f"; done
  stop_pidfile "$dir/leader.pid"
  local pids=()
  for f in "$dir"/d*/; do [[ -d $f ]] && { "$here/dockerd.sh" stop "${f%/}" >/dev/null 2>&1 & pids+=($!); }; done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  "$here/registry.sh" stop "$dir/registry" >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; [[ $# -eq 1 ]] || die "down needs DIR"; cmd_down "$1" ;;
  env) shift; [[ $# -eq 1 ]] || die "env needs DIR"; cmd_env "$1" ;;
  -h|--help|"") usage ;;
  *) die "unknown command '$1' (see --help)" ;;
esac
