#!/usr/bin/env bash
# bench-proxy.sh - `ferry proxy serve` against the registry it fronts, side by side in one run,
# on one generated image (busybox + LAYERS x LAYER_SIZE, default 2 x 50M) held by a
# password-protected docker-registry (htpasswd):
#   (a) `skopeo copy` straight from the registry, through a cold proxy (a fresh data directory)
#       and through the same proxy warm, RUNS times each (median): throughput ratio cold ÷ direct
#       (goal ≥ 0.9), once per rate in RATES: `unshaped` (loopback) or a tc rate (`100mbit`) to
#       which every server's replies are shaped (the registry's and the proxy's, each a link of
#       its own: the customer's link and the vendor's);
#   (b) LICENCES licences pulling the image at once through a cold proxy: bytes the registry sent
#       (its access log) ÷ the image (goal ≤ 1.02).
# Results to docs/benchmarks.md (section "Proxy").
#
#   RUNS=3 RATES="unshaped 100mbit" LAYERS=2 LAYER_SIZE=50M LICENCES=8 FERRY=.build/release/ferry bench/bench-proxy.sh
set -euo pipefail
shopt -s inherit_errexit

PROG=bench-proxy.sh
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cluster=$root/cluster
FERRY=${FERRY:-$root/.build/release/ferry}
runs=${RUNS:-3}
layers=${LAYERS:-2}
layer_size=${LAYER_SIZE:-50M}
licences=${LICENCES:-8}
read -r -a rates <<<"${RATES:-unshaped 100mbit}"
for r in "${rates[@]}"; do
  [[ $r == unshaped ]] || rate_bps "$r" >/dev/null || { echo "$PROG: bad rate '$r' in RATES (unshaped, or e.g. 100mbit)" >&2; exit 1; }
done
((${#rates[@]} > 0)) || { echo "$PROG: RATES is empty" >&2; exit 1; }
[[ "${rates[*]}" == unshaped ]] || ((EUID == 0)) || { echo "$PROG: a shaped rate in RATES needs root (tc); RATES=unshaped runs without" >&2; exit 1; }
out=${OUT:-$root/docs/benchmarks.md}
[[ -x $FERRY ]] || { echo "$PROG: $FERRY not built (make bench-proxy builds it)" >&2; exit 1; }
for c in skopeo jq bc docker-registry; do command -v "$c" >/dev/null 2>&1 || { echo "$PROG: '$c' not found (cluster/deps.sh)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/fbp.XXXXXX)
proxy_pid=
shaped=
cleanup() {
  [[ -z $shaped ]] || lo_unshape
  [[ -z $proxy_pid ]] || stop_pid "$proxy_pid" 10 "ferry proxy"
  "$cluster/registry.sh" stop "$work/registry" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

policy=()
[[ -f /etc/containers/policy.json ]] || policy=(--insecure-policy)

# The vendor's registry, password-protected, with the image.
password=bench-$RANDOM$RANDOM
"$cluster/registry.sh" start "$work/registry" --port "$(free_port)" --auth htpasswd --user vendor --password "$password" >"$work/registry.url"
upstream=$(sed 's@^http://@@' "$work/registry.url")
layer_args=()
for i in $(seq "$layers"); do layer_args+=(--layer "bp$i:$layer_size"); done
"$cluster/gen-image.sh" --out "$work/image.tar" --tag bench/app:1 --busybox "${layer_args[@]}"
"$cluster/push-image.sh" "$work/image.tar" "$upstream/bench/app:1" --creds "vendor:$password" >/dev/null
image_bytes=$(skopeo inspect --tls-verify=false --creds "vendor:$password" --raw "docker://$upstream/bench/app:1" | jq '[.config.size] + [.layers[].size] | add')
(umask 077; printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$upstream" "$(printf 'vendor:%s' "$password" | base64 -w0)" >"$work/upstream.json")

proxy_port=$(free_port)
registry_port=${upstream##*:}

# Bytes the registry sent for blob GETs so far (its access log).
upstream_bytes() { "$cluster/registry.sh" blob-gets "$work/registry" --bytes | awk '{s+=$2} END {print s+0}'; }

# cold_proxy NAME: stops the running proxy, starts one on a fresh data directory with the app `bench`.
cold_proxy() {
  [[ -z $proxy_pid ]] || stop_pid "$proxy_pid" 10 "ferry proxy"
  local dir=$work/$1
  rm -rf "$dir"
  "$FERRY" proxy serve --data-dir "$dir" --listen "127.0.0.1:$proxy_port" --upstream-auth "$work/upstream.json" --log-level warning \
    >"$work/$1.log" 2>&1 &
  proxy_pid=$!
  local deadline=$((SECONDS + 30))
  until [[ -s $dir/address ]]; do
    pid_alive "$proxy_pid" || { cat "$work/$1.log" >&2; echo "$PROG: ferry proxy serve exited" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "$PROG: the proxy did not start listening" >&2; exit 1; }
    sleep 0.1
  done
  proxy=$(sed 's@^http://@@' "$dir/address")
  proxy_dir=$dir
  "$FERRY" proxy app add bench --registry "vendor=$upstream" --data-dir "$dir" >/dev/null
}

licence() { "$FERRY" proxy licence create bench --customer "$1" --data-dir "$proxy_dir"; }

# copy SOURCE CREDS: skopeo copy of SOURCE to a fresh dir:, printing its seconds.
copy() {
  local target=$work/copy-$BASHPID-$RANDOM t0 t1
  t0=$(now)
  skopeo "${policy[@]}" copy -q --src-tls-verify=false --src-creds "$2" "docker://$1" "dir:$target" >/dev/null
  t1=$(now)
  rm -rf "$target"
  echo "$t1 - $t0" | bc -l
}

mb=$(echo "$image_bytes / 1000000" | bc -l)
tput() { printf '%.0f MB/s' "$(echo "$mb / $1" | bc -l)"; }
runs_of() { printf '%.2f ' "$@" | sed 's/ $//'; }
rows=() bytes_rows=()
for rate in "${rates[@]}"; do
  direct=() cold=() warm=() cold_bytes=()
  if [[ $rate != unshaped ]]; then
    lo_shape "$registry_port:$rate" "$proxy_port:$rate"
    shaped=1
  fi
  for run in $(seq "$runs"); do
    direct+=("$(copy "$upstream/bench/app:1" "vendor:$password")")
    cold_proxy "proxy-$rate-$run"
    id=$(licence "run$run")
    b0=$(upstream_bytes)
    cold+=("$(copy "$proxy/proxy/bench/vendor/bench/app:1" "c:$id")")
    cold_bytes+=("$(($(upstream_bytes) - b0))")
    warm+=("$(copy "$proxy/proxy/bench/vendor/bench/app:1" "c:$id")")
    printf '%s, run %d: direct %.2fs  cold %.2fs (%s B upstream)  warm %.2fs\n' "$rate" "$run" "${direct[-1]}" "${cold[-1]}" "${cold_bytes[-1]}" "${warm[-1]}"
  done
  if [[ -n $shaped ]]; then lo_unshape; shaped=; fi
  dm=$(printf '%s\n' "${direct[@]}" | median); cm=$(printf '%s\n' "${cold[@]}" | median); wm=$(printf '%s\n' "${warm[@]}" | median)
  label=$([[ $rate == unshaped ]] && echo "loopback, unshaped" || echo "$rate")
  rows+=("$(printf '| %s | direct from the registry | %.2f s | %s | 1.00 | %s |' "$label" "$dm" "$(tput "$dm")" "$(runs_of "${direct[@]}")")")
  rows+=("$(printf '| %s | through the proxy, cold | %.2f s | %s | **%.2f** | %s |' "$label" "$cm" "$(tput "$cm")" "$(echo "$dm / $cm" | bc -l)" "$(runs_of "${cold[@]}")")")
  rows+=("$(printf '| %s | through the proxy, warm | %.2f s | %s | %.2f | %s |' "$label" "$wm" "$(tput "$wm")" "$(echo "$dm / $wm" | bc -l)" "$(runs_of "${warm[@]}")")")
  bytes_rows+=("$label $(for b in "${cold_bytes[@]}"; do printf '%.3f ' "$(echo "$b / $image_bytes" | bc -l)"; done | sed 's/ $//')")
done

# Eight (LICENCES) customers pulling the same new image at once through a cold proxy.
cold_proxy fanout
ids=()
for i in $(seq "$licences"); do ids+=("$(licence "customer$i")"); done
b0=$(upstream_bytes)
t0=$(now)
pids=()
for id in "${ids[@]}"; do copy "$proxy/proxy/bench/vendor/bench/app:1" "c:$id" >/dev/null & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
fan_wall=$(echo "$(now) - $t0" | bc -l)
fan_bytes=$(($(upstream_bytes) - b0))
printf '%d licences at once: %.2fs, %s B upstream (image %s B)\n' "$licences" "$fan_wall" "$fan_bytes" "$image_bytes"

section=$(mktemp)
{
  echo "## Proxy: skopeo copy direct vs through ferry proxy"
  echo
  echo "\`make bench-proxy\` ($(date -u +%Y-%m-%d), $(basename "$(dirname "$FERRY")") build): busybox + $layers × $layer_size"
  printf '(%.0f MB) in a docker-registry with htpasswd auth; `skopeo copy` to a `dir:` on loopback. Link: unshaped, or\n' "$mb"
  echo "every server's replies (the registry's and the proxy's, each a link of its own) shaped to the rate with \`tc htb\`."
  echo "Cold: a proxy on a fresh data directory (each run its own); warm: the same proxy again. Median of $runs."
  echo
  echo "| link | path | median | throughput | ÷ direct | runs (s) |"
  echo "|---|---|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  printf 'Upstream bytes of a cold pull ÷ the image: %s. %d licences pulling the image at once through a cold\n' \
    "$(printf '%s; ' "${bytes_rows[@]}" | sed 's/; $//')" "$licences"
  printf 'proxy (unshaped): %.2f s wall, the registry sent **%.3f ×** the image (%s of %s bytes; goal ≤ 1.02).\n' \
    "$fan_wall" "$(echo "$fan_bytes / $image_bytes" | bc -l)" "$fan_bytes" "$image_bytes"
} >"$section"
cat "$section"
replace_section "$out" "## Proxy: " "$section"
rm -f "$section"
