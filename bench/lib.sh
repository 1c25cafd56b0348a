# Shared by the benchmark scripts (sourced).

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# A loopback port nothing answers on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# replace_section OUT PREFIX FILE: put FILE's text in place of the section of OUT whose heading
# starts with PREFIX (up to the next '## ' heading), or append it; OUT gets a title if new.
replace_section() {
  local out=$1 prefix=$2 file=$3
  [[ -s $out ]] || printf '# Benchmarks\n\nLatest results of the benchmark goals (`make bench-fetch`, `make bench-install`). This machine is\nshared and noisy: compare the ratios of each table, measured side by side in one run, not absolute times.\n\n' >"$out"
  awk -v file="$file" -v prefix="$prefix" '
    index($0, prefix) == 1 { skip = 1; found = 1; while ((getline line < file) > 0) print line; print ""; next }
    /^## / && skip { skip = 0 }
    !skip { print }
    END { if (!found) { print ""; while ((getline line < file) > 0) print line } }
  ' "$out" >"$out.tmp"
  mv "$out.tmp" "$out"
}
