# Shared by the benchmark scripts (sourced).

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

# replace_section OUT PREFIX FILE: put FILE's text in place of the section of OUT whose heading
# starts with PREFIX (up to the next '## ' heading), or append it; OUT gets a title if new.
replace_section() {
  local out=$1 prefix=$2 file=$3
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
