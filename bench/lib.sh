# Shared by the benchmark scripts (sourced).

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

# replace_section OUT PREFIX FILE: put FILE's text in place of the section of OUT whose heading
# starts with PREFIX (up to the next '## ' heading), or append it; OUT gets a title if new.
# OUT=/dev/null (any existing OUT that is not a regular file) leaves everything alone: the file is
# replaced by a rename, which would put a regular file in place of the device.
replace_section() {
  local out=$1 prefix=$2 file=$3
  [[ ! -e $out || -f $out ]] || return 0
  [[ -s $out ]] || printf '# Benchmarks\n\nLatest results of the benchmark goals (`make bench-fetch`, `make bench-install`,\n`make bench-peers`). This machine is shared and noisy: compare the ratios of each table,\nmeasured side by side in one run, not absolute times.\n\n' >"$out"
  awk -v file="$file" -v prefix="$prefix" '
    index($0, prefix) == 1 { skip = 1; found = 1; while ((getline line < file) > 0) print line; print ""; next }
    /^## / && skip { skip = 0 }
    !skip { print }
    END { if (!found) { print ""; while ((getline line < file) > 0) print line } }
  ' "$out" >"$out.tmp"
  mv "$out.tmp" "$out"
}

# rate_bps RATE: a tc rate (100mbit, 1gbit, 500kbit, 20mbps...) in bytes per second.
rate_bps() {
  local r=${1,,}
  [[ $r =~ ^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$ ]] || return 1
  case "${BASH_REMATCH[3]}" in
    bit) echo "${BASH_REMATCH[1]} / 8" ;;
    kbit) echo "${BASH_REMATCH[1]} * 1000 / 8" ;;
    mbit) echo "${BASH_REMATCH[1]} * 1000000 / 8" ;;
    gbit) echo "${BASH_REMATCH[1]} * 1000000000 / 8" ;;
    bps) echo "${BASH_REMATCH[1]}" ;;
    kbps) echo "${BASH_REMATCH[1]} * 1000" ;;
    mbps) echo "${BASH_REMATCH[1]} * 1000000" ;;
    gbps) echo "${BASH_REMATCH[1]} * 1000000000" ;;
  esac | bc | cut -d. -f1
}

# size_bytes SIZE: 512, 64K, 200M, 1G, 200MiB... (binary units) in bytes.
size_bytes() {
  local s=${1,,}
  [[ $s =~ ^([0-9]+)(|b|k|kb|kib|m|mb|mib|g|gb|gib)$ ]] || return 1
  case "${BASH_REMATCH[2]}" in
    ''|b) echo "${BASH_REMATCH[1]}" ;;
    k|kb|kib) echo $((BASH_REMATCH[1] * 1024)) ;;
    m|mb|mib) echo $((BASH_REMATCH[1] * 1024 * 1024)) ;;
    g|gb|gib) echo $((BASH_REMATCH[1] * 1024 * 1024 * 1024)) ;;
  esac
}

# div A B [DIGITS]: A / B with DIGITS decimals (default 2).
div() { printf "%.${3:-2}f" "$(echo "$1 / $2" | bc -l)"; }

# Seconds since T0 (a `date +%s.%N`) of each JSON log line read (the daemons' --log-format json).
log_seconds() {
  jq -r --argjson t0 "$1" 'select(.time != null)
    | (.time | sub("\\.[0-9]+"; "") | fromdate) + ((.time | capture("\\.(?<f>[0-9]+)").f // "0") | ("0." + .) | tonumber) - $t0'
}

# log_time T0 FILE MESSAGE... first|last: the first or last time (s after T0) FILE logged one of MESSAGEs.
log_time() {
  local t0=$1 file=$2 which=${*: -1} filter
  filter=$(printf '.message == "%s" or ' "${@:3:$#-3}")
  jq -c "select(${filter% or })" "$file" 2>/dev/null | log_seconds "$t0" | sort -g | { [[ $which == first ]] && head -1 || tail -1; }
}

# timeline T0 LEADER_LOG NODE_LOG...: from JSON logs at level info, seconds after T0 of the
# leader's first blob fetch started and last blob fetched, and per node its first blob received,
# last blob verified, handoff to the engine started (load or pull), and install done ("image installed", or the
# leader's answer ending the target first).
timeline() {
  local t0=$1 leader=$2 f
  shift 2
  printf '    %-8s %10s %10s %10s %10s\n' node first-rx last-ok handoff installed
  printf '    %-8s %10.2f %10.2f %10s %10s\n' leader "$(log_time "$t0" "$leader" "fetching blob" first)" \
    "$(log_time "$t0" "$leader" "blob fetched" last)" - -
  for f in "$@"; do
    printf '    %-8s %10.2f %10.2f %10.2f %10.2f\n' "$(basename "$f" .log)" \
      "$(log_time "$t0" "$f" "receiving blob" first)" "$(log_time "$t0" "$f" "blob verified" last)" \
      "$(log_time "$t0" "$f" "loading into the Docker engine" "pulling into the Docker engine while the blobs arrive" \
        "pulling into the Docker engine" first)" \
      "$(log_time "$t0" "$f" "image installed" "the leader ended the target; stopping it" first)"
  done
}

# Stops the ferry processes whose pids the caller keeps in its array `daemons`: SIGTERM, up to
# 10 s, then SIGKILL; reaps them and empties the array. Needs cluster/lib.sh's pid_alive.
stop_daemons() {
  ((${#daemons[@]})) || return 0
  kill -TERM "${daemons[@]}" 2>/dev/null || true
  local pid any
  for _ in $(seq 100); do
    any=0
    for pid in "${daemons[@]}"; do pid_alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  kill -KILL "${daemons[@]}" 2>/dev/null || true
  for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null || true; done
  daemons=()
}

# report_failure SCRIPT RC WORK KEEP: on a failed run, the last lines of every log in WORK/logs.
report_failure() {
  local script=$1 rc=$2 work=$3 keep=$4 f
  echo "$script: failed (exit $rc); last lines of the logs:" >&2
  for f in "$work"/logs/*.log; do
    [[ -s $f ]] || continue
    echo "== $f" >&2
    tail -n 3 -- "$f" >&2
  done
  ((keep)) || echo "(KEEP=1 keeps $work: engine logs in n/dN/dockerd.log)" >&2
}

# lo_shape PORT:RATE...: shape on loopback what each PORT sends (its source port: the replies of
# the server listening there) to RATE, each port a link of its own (`tc htb`); everything else on
# loopback is unshaped. lo_unshape removes it.
lo_shape() {
  local spec port rate class=20
  tc qdisc add dev lo root handle 1: htb default 10 r2q 1000
  tc class add dev lo parent 1: classid 1:10 htb rate 100gbit quantum 200000
  for spec in "$@"; do
    port=${spec%%:*} rate=${spec#*:}
    tc class add dev lo parent 1: classid "1:$class" htb rate "$rate" ceil "$rate" quantum 60000
    tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$port" 0xffff flowid "1:$class"
    class=$((class + 10))
  done
}
lo_unshape() { tc qdisc del dev lo root 2>/dev/null || true; }
