#!/usr/bin/env bash
# bench-fetch.sh - the leader's fetch vs `skopeo copy` of the same image, and the store's hashing
# vs `sha256sum`, side by side in one run; medians and ratios to docs/benchmarks.md.
#
#   RUNS=5 SIZE_PER_LAYER=128M LAYERS=4 bench/bench-fetch.sh
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
ferry=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-5}
layers=${LAYERS:-4}
per_layer=${SIZE_PER_LAYER:-128M}
out=${OUT:-$root/docs/benchmarks.md}
[[ -x $ferry ]] || { echo "bench-fetch.sh: $ferry not built (make bench-fetch builds it)" >&2; exit 1; }

work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
leader_pid=
cleanup() {
  [[ -n $leader_pid ]] && kill "$leader_pid" 2>/dev/null && wait "$leader_pid" 2>/dev/null || true
  "$cluster/registry.sh" stop "$work/registry" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ticks=$(getconf CLK_TCK)
cpu_of() { awk -v t="$ticks" '{print ($14+$15)/t}' "/proc/$1/stat"; }

echo "== image: $layers layers of $per_layer on a local registry"
reg_port=$(free_port)
"$cluster/registry.sh" start "$work/registry" --port "$reg_port" >/dev/null
upstream=127.0.0.1:$reg_port
layer_args=()
for i in $(seq "$layers"); do layer_args+=(--layer "bench$i:$per_layer"); done
"$cluster/gen-image.sh" --out "$work/image.tar" --tag bench/big:1 "${layer_args[@]}"
"$cluster/push-image.sh" "$work/image.tar" "$upstream/bench/big:1" >/dev/null
image_bytes=$(skopeo inspect --tls-verify=false --raw "docker://$upstream/bench/big:1" | jq '[.config.size] + [.layers[].size] | add')
echo "   $image_bytes bytes"

ferry_wall=() ferry_cpu=() skopeo_wall=() skopeo_cpu=()
for run in $(seq "$runs"); do
  # Ferry: a fresh leader and data directory each run; CPU is the leader's plus the CLI's.
  rm -rf "$work/leader"
  "$ferry" leader --data-dir "$work/leader" --listen 127.0.0.1:0 --log-level error &
  leader_pid=$!
  for _ in $(seq 100); do [[ -s $work/leader/address ]] && break; sleep 0.05; done
  cpu0=$(cpu_of "$leader_pid")
  t0=$(now)
  cli=$( { /usr/bin/time -f '%U %S' "$ferry" fetch --data-dir "$work/leader" "$upstream/bench/big:1" >/dev/null; } 2>&1 | tail -1)
  t1=$(now)
  cpu1=$(cpu_of "$leader_pid")
  kill "$leader_pid"; wait "$leader_pid" 2>/dev/null || true; leader_pid=
  ferry_wall+=("$(echo "$t1 - $t0" | bc -l)")
  ferry_cpu+=("$(echo "$cpu1 - $cpu0 + ${cli% *} + ${cli#* }" | bc -l)")

  # skopeo copy of the same image to a directory (it verifies digests too).
  rm -rf "$work/skopeo"
  t0=$(now)
  sk=$( { /usr/bin/time -f '%U %S' skopeo copy --quiet --src-tls-verify=false "docker://$upstream/bench/big:1" "dir:$work/skopeo" >/dev/null; } 2>&1 | tail -1)
  t1=$(now)
  skopeo_wall+=("$(echo "$t1 - $t0" | bc -l)")
  skopeo_cpu+=("$(echo "${sk% *} + ${sk#* }" | bc -l)")
  printf '   run %d: ferry %.2fs (cpu %.2fs)  skopeo %.2fs (cpu %.2fs)\n' "$run" "${ferry_wall[-1]}" "${ferry_cpu[-1]}" "${skopeo_wall[-1]}" "${skopeo_cpu[-1]}"
done

echo "== hashing: the store's sha256 vs sha256sum on one layer tar"
layer_file=$(find "$work/skopeo" -type f -size +1M | head -1)
layer_size=$(stat -c %s "$layer_file")
cat "$layer_file" >/dev/null
hash_ferry=() hash_coreutils=()
for run in $(seq "$runs"); do
  t0=$(now); "$ferry" digest "$layer_file" >/dev/null; t1=$(now)
  hash_ferry+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now); sha256sum "$layer_file" >/dev/null; t1=$(now)
  hash_coreutils+=("$(echo "$t1 - $t0" | bc -l)")
done

fw=$(printf '%s\n' "${ferry_wall[@]}" | median); fc=$(printf '%s\n' "${ferry_cpu[@]}" | median)
sw=$(printf '%s\n' "${skopeo_wall[@]}" | median); sc=$(printf '%s\n' "${skopeo_cpu[@]}" | median)
hf=$(printf '%s\n' "${hash_ferry[@]}" | median); hc=$(printf '%s\n' "${hash_coreutils[@]}" | median)
mib=$(echo "$image_bytes / 1048576" | bc -l)
lmib=$(echo "$layer_size / 1048576" | bc -l)
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
section=$(mktemp)
{
  echo "## Fetch: leader vs skopeo copy"
  echo
  echo "\`make bench-fetch\` ($(date -u +%Y-%m-%d), $(nproc) cores, $cpu_model): each figure is the median of $runs"
  echo "runs, the two sides interleaved in one run."
  echo
  printf 'Image: %d layers, %.0f MiB in all (incompressible data, gzip layers as skopeo pushed them), on a\n' "$layers" "$mib"
  echo "CNCF registry on loopback. Ferry: \`ferry fetch\` against a fresh \`ferry leader\` (release build),"
  echo "wall time of the CLI (it polls every 100 ms), CPU of leader + CLI; the leader verifies, fsyncs and"
  echo "records every blob. skopeo: \`skopeo copy docker://… dir:…\`, which verifies digests too."
  echo
  echo "| | wall (s) | CPU (s) | throughput (MiB/s) |"
  echo "|---|---:|---:|---:|"
  printf '| ferry fetch | %.2f | %.2f | %.0f |\n' "$fw" "$fc" "$(echo "$mib / $fw" | bc -l)"
  printf '| skopeo copy | %.2f | %.2f | %.0f |\n' "$sw" "$sc" "$(echo "$mib / $sw" | bc -l)"
  printf '| **ratio ferry / skopeo** | **%s** | **%s** | |\n' "$(ratio "$fw" "$sw")" "$(ratio "$fc" "$sc")"
  echo
  echo "Target: wall-time ratio ≤ 1.00."
  echo
  echo "### Hashing: store sha256 vs sha256sum"
  echo
  printf 'One %.0f MiB layer file, in the page cache. `ferry digest` (the store'"'"'s hashing path: swift-crypto\n' "$lmib"
  echo "SHA-256 over 1 MiB NIOFileSystem reads, including process start) vs coreutils \`sha256sum\`."
  echo
  echo "| | time (s) | MiB/s |"
  echo "|---|---:|---:|"
  printf '| ferry digest | %.3f | %.0f |\n' "$hf" "$(echo "$lmib / $hf" | bc -l)"
  printf '| sha256sum | %.3f | %.0f |\n' "$hc" "$(echo "$lmib / $hc" | bc -l)"
  printf '| **ratio ferry / sha256sum** | **%s** | |\n' "$(ratio "$hf" "$hc")"
  echo
  echo "Target: within 10% of sha256sum (ratio ≤ 1.10)."
  echo
  echo "### Raw runs (s)"
  echo
  echo "- ferry wall: $(printf '%.3f ' "${ferry_wall[@]}")"
  echo "- ferry cpu: $(printf '%.3f ' "${ferry_cpu[@]}")"
  echo "- skopeo wall: $(printf '%.3f ' "${skopeo_wall[@]}")"
  echo "- skopeo cpu: $(printf '%.3f ' "${skopeo_cpu[@]}")"
  echo "- ferry digest: $(printf '%.3f ' "${hash_ferry[@]}")"
  echo "- sha256sum: $(printf '%.3f ' "${hash_coreutils[@]}")"
} > "$section"
replace_section "$out" "## Fetch:" "$section"
cat "$section"
rm -f "$section"
