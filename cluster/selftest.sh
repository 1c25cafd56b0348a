#!/usr/bin/env bash
# selftest.sh - exercise the cluster scripts end to end against real docker-registry/skopeo.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

usage() {
  cat <<USAGE
Usage: $PROG [--port-base N] [--big] [--keep]

Starts an anonymous and an htpasswd registry on 127.0.0.1:N and N+1 (default
N=5310), generates and pushes images (schema 2 and OCI), a manifest list and an
OCI index with an attestation, and checks digests, blobs and blob-gets counts.
Everything is stopped and removed on exit.

  --port-base N  first of the two ports to use
  --big          also time generating and pushing a 512 MiB, 4-layer image
  --keep         keep the work directory (registries are still stopped)
  -h, --help     show this help
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

port_base=5310 big=0 keep=0
while (($#)); do
  case "$1" in
    --port-base)
      (($# >= 2)) || die "--port-base needs a value"
      if [[ ! $2 =~ ^[0-9]{1,5}$ ]] || (($2 < 1 || $2 > 65534)); then die "bad --port-base '$2'"; fi
      port_base=$2
      shift ;;
    --big) big=1 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

"$HERE/deps.sh" --check || die "dependencies missing: run $HERE/deps.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-selftest.XXXXXX")
cleanup() {
  "$HERE/registry.sh" stop "$W/anon" || true
  "$HERE/registry.sh" stop "$W/auth" || true
  if ((keep)); then echo "work directory kept: $W"; else rm -rf -- "$W"; fi
}
trap cleanup EXIT

GEN=$HERE/gen-image.sh PUSH=$HERE/push-image.sh INDEX=$HERE/push-index.sh REG=$HERE/registry.sh
ANON=127.0.0.1:$port_base AUTH=127.0.0.1:$((port_base + 1)) CREDS='ferry:pa ss:w"rd'
ACCEPT='application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json'

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
sha() { echo "sha256:$(sha256sum "$@" | cut -d' ' -f1)"; }

# get_manifest HOST REPO REF OUT [curl args]: fetch a manifest; checks header digest == sha256(body).
get_manifest() {
  local host=$1 repo=$2 ref=$3 out=$4
  shift 4
  curl -sf -H "Accept: $ACCEPT" -D "$out.h" -o "$out" "$@" "http://$host/v2/$repo/manifests/$ref" \
    || fail "GET $host/$repo:$ref"
  local hdr
  hdr=$(tr -d '\r' <"$out.h" | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
  [[ $hdr == "$(sha "$out")" ]] || fail "$repo:$ref: Docker-Content-Digest $hdr != body digest"
}

# check_blobs HOST REPO MANIFEST [curl args]: every config/layer blob comes back with its digest.
check_blobs() {
  local host=$1 repo=$2 m=$3 d
  shift 3
  for d in $(jq -r '.config.digest, .layers[].digest' "$m"); do
    [[ $(curl -sfL "$@" "http://$host/v2/$repo/blobs/$d" | sha256sum | cut -d' ' -f1) == "${d#sha256:}" ]] \
      || fail "blob $d of $repo"
  done
}

echo "== registries"
"$REG" start "$W/anon" --port "$port_base" >/dev/null
"$REG" start "$W/auth" --port "$((port_base + 1))" --auth htpasswd --user ferry --password 'pa ss:w"rd' >/dev/null
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$AUTH/v2/") == 401 ]] || fail "htpasswd registry without creds"
[[ $(curl -s -o /dev/null -w '%{http_code}' -u "$CREDS" "http://$AUTH/v2/") == 200 ]] || fail "htpasswd registry with creds"
ok "anonymous registry on $ANON, htpasswd registry on $AUTH"

echo "== gen-image"
cd "$W"
"$GEN" --out bb.tar --tag ferry/bb:1 --busybox
"$GEN" --out bb-again.tar --tag ferry/bb:1 --busybox
cmp -s bb.tar bb-again.tar || fail "busybox image is not deterministic"
"$GEN" --out a.tar --tag ferry/a:1 --busybox --layer base:4M --layer only-a:64K
"$GEN" --out b.tar --tag ferry/b:1 --layer base:4M --layer only-b:512
"$GEN" --out a-again.tar --tag ferry/a:1 --busybox --layer base:4M --layer only-a:64K
cmp -s a.tar a-again.tar || fail "image a is not deterministic"
mkdir xa xb && tar -xf a.tar -C xa && tar -xf b.tar -C xb
la=$(jq -r '.[0].Layers[1]' xa/manifest.json) lb=$(jq -r '.[0].Layers[0]' xb/manifest.json)
if [[ $la != "$lb" ]] || ! cmp -s "xa/$la" "xb/$lb"; then fail "base:4M layers differ between a and b"; fi
for x in xa xb; do
  cfg=$x/$(jq -r '.[0].Config' "$x/manifest.json")
  [[ $(sha "$cfg") == "sha256:$(basename "$cfg" .json)" ]] || fail "$x config name != digest"
  mapfile -t want < <(jq -r '.[0].Layers[]' "$x/manifest.json" | while read -r l; do sha "$x/$l"; done)
  mapfile -t have < <(jq -r '.rootfs.diff_ids[]' "$cfg")
  [[ "${want[*]}" == "${have[*]}" ]] || fail "$x diff_ids do not match the layer tars"
done
ok "deterministic archives, shared layer $la, diff_ids match"

echo "== push-image"
d_bb=$("$PUSH" bb.tar "$ANON/ferry/bb:1")
d_a=$("$PUSH" a.tar "$ANON/ferry/a:1")
d_b=$("$PUSH" b.tar "$ANON/ferry/b:1")
d_aoci=$("$PUSH" a.tar "$ANON/ferry/a:oci" --oci)
d_aauth=$("$PUSH" a.tar "$AUTH/ferry/a:1" --creds "$CREDS")
if "$PUSH" a.tar "$AUTH/ferry/a:2" >/dev/null 2>&1; then fail "push without creds succeeded"; fi
for spec in "bb 1 $d_bb" "a 1 $d_a" "b 1 $d_b" "a oci $d_aoci"; do
  read -r repo ref digest <<<"$spec"
  get_manifest "$ANON" "ferry/$repo" "$ref" "m-$repo-$ref"
  [[ $(sha "m-$repo-$ref") == "$digest" ]] || fail "ferry/$repo:$ref digest != push-image output"
  check_blobs "$ANON" "ferry/$repo" "m-$repo-$ref"
done
[[ $(jq -r .mediaType m-a-oci) == application/vnd.oci.image.manifest.v1+json ]] || fail "--oci gave $(jq -r .mediaType m-a-oci)"
[[ $(jq -r .mediaType m-a-1) == application/vnd.docker.distribution.manifest.v2+json ]] || fail "schema 2 expected"
# schema 2 keeps the archive's config bytes (image ID); the diff_ids match the archive layers.
[[ $(jq -r .config.digest m-a-1) == "sha256:$(jq -r '.[0].Config' xa/manifest.json | sed 's/\.json$//')" ]] \
  || fail "schema 2 config digest differs from the archive's config"
get_manifest "$AUTH" ferry/a 1 m-auth-a -u "$CREDS"
check_blobs "$AUTH" ferry/a m-auth-a -u "$CREDS"
[[ $d_aauth == "$d_a" ]] || fail "same archive pushed to two registries gave $d_a and $d_aauth"
base_a=$(jq -r '.layers[1].digest' m-a-1) base_b=$(jq -r '.layers[0].digest' m-b-1)
[[ $base_a == "$base_b" ]] || fail "shared layer compressed to different blobs ($base_a, $base_b)"
[[ $(jq -r '[.layers[].digest] | join(" ")' m-a-1) == "$(jq -r '[.layers[].digest] | join(" ")' m-a-oci)" ]] \
  || fail "OCI and schema 2 pushes have different layer blobs"
ok "pushes verified: digests, blobs, creds; identical gzip blobs across pushes ($base_a)"

echo "== push-index"
"$GEN" --out amd64.tar --tag ferry/multi:amd64 --busybox --layer base:4M
"$GEN" --out arm64.tar --tag ferry/multi:arm64 --busybox --layer base:4M --arch arm64 --variant v8
for host in "$ANON" "$AUTH"; do
  for arch in amd64 arm64; do
    "$PUSH" "$arch.tar" "$host/ferry/multi:$arch" --creds "$CREDS" >/dev/null
    "$PUSH" "$arch.tar" "$host/ferry/multi:$arch-oci" --oci --creds "$CREDS" >/dev/null
  done
done
d_list=$("$INDEX" --registry "$ANON" --repo ferry/multi --tag list amd64 arm64)
d_index=$("$INDEX" --registry "$ANON" --repo ferry/multi --tag index --oci --attestation amd64-oci arm64-oci)
d_list2=$("$INDEX" --registry "$AUTH" --repo ferry/multi --tag list --creds "$CREDS" amd64 arm64)
d_index2=$("$INDEX" --registry "$AUTH" --repo ferry/multi --tag index --oci --attestation --creds "$CREDS" amd64-oci arm64-oci)
[[ $d_list == "$d_list2" && $d_index == "$d_index2" ]] || fail "list/index digests differ between registries"
get_manifest "$ANON" ferry/multi list m-list
get_manifest "$ANON" ferry/multi index m-index
[[ $(sha m-list) == "$d_list" && $(sha m-index) == "$d_index" ]] || fail "list/index digest != push-index output"
[[ $(jq -r .mediaType m-list) == application/vnd.docker.distribution.manifest.list.v2+json ]] || fail "list media type"
[[ $(jq -r .mediaType m-index) == application/vnd.oci.image.index.v1+json ]] || fail "index media type"
[[ $(jq -c '[.manifests[].platform]' m-list) == '[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux","variant":"v8"}]' ]] \
  || fail "list platforms: $(jq -c '[.manifests[].platform]' m-list)"
[[ $(jq -r '.manifests[0].digest' m-list) == "$(get_manifest "$ANON" ferry/multi amd64 m-amd64 && sha m-amd64)" ]] \
  || fail "list entry 0 is not ferry/multi:amd64"
att=$(jq -r '.manifests[2].digest' m-index)
[[ $(jq -c '.manifests[2].platform' m-index) == '{"architecture":"unknown","os":"unknown"}' ]] || fail "attestation platform"
[[ $(jq -r '.manifests[2].annotations."vnd.docker.reference.digest"' m-index) == "$(jq -r '.manifests[0].digest' m-index)" ]] \
  || fail "attestation reference digest"
get_manifest "$ANON" ferry/multi "$att" m-att
check_blobs "$ANON" ferry/multi m-att
[[ $(jq -r '.layers[0].mediaType' m-att) == application/vnd.in-toto+json ]] || fail "attestation layer type"
[[ $(skopeo inspect --tls-verify=false --raw "docker://$ANON/ferry/multi:index" | sha256sum | cut -d' ' -f1) == "${d_index#sha256:}" ]] \
  || fail "skopeo sees a different index"
sel=$(skopeo inspect --tls-verify=false --override-arch arm64 "docker://$ANON/ferry/multi:list" | jq -r '.Layers[0]')
[[ $sel == "$(get_manifest "$ANON" ferry/multi arm64 m-arm64 && jq -r '.layers[0].digest' m-arm64)" ]] \
  || fail "skopeo --override-arch arm64 did not select the arm64 image"
skopeo copy -q --all --src-tls-verify=false "docker://$ANON/ferry/multi:index" "oci:$W/oci-layout:index" \
  || fail "skopeo copy --all of the OCI index"
ok "manifest list $d_list and OCI index $d_index (with attestation $att) accepted and consumable"

echo "== blob-gets"
blob=$base_a
n0=$("$REG" blob-gets "$W/anon" "$blob")
curl -sf -o /dev/null "http://$ANON/v2/ferry/a/blobs/$blob"
curl -sf -o /dev/null -r 0-99 "http://$ANON/v2/ferry/b/blobs/$blob"
curl -sf -o /dev/null -I "http://$ANON/v2/ferry/a/blobs/$blob"
curl -s -o /dev/null -r 999999999- "http://$ANON/v2/ferry/a/blobs/$blob" || true  # 416
sleep 0.2
n1=$("$REG" blob-gets "$W/anon" "$blob")
((n1 == n0 + 2)) || fail "blob-gets counted $((n1 - n0)) new GETs, expected 2 (200 + 206; HEAD and 416 ignored)"
"$REG" blob-gets "$W/anon" | grep -q " $blob\$" || fail "blob-gets listing lacks $blob"
ok "blob-gets: 200 and 206 counted, HEAD and 416 not"

if ((big)); then
  echo "== 512 MiB, 4 layers"
  t0=$(date +%s.%N)
  "$GEN" --out big.tar --tag ferry/big:1 --layer big1:128M --layer big2:128M --layer big3:128M --layer big4:128M
  t1=$(date +%s.%N)
  d_big=$("$PUSH" big.tar "$ANON/ferry/big:1")
  t2=$(date +%s.%N)
  d_big_oci=$("$PUSH" big.tar "$ANON/ferry/big:oci" --oci)
  t3=$(date +%s.%N)
  get_manifest "$ANON" ferry/big 1 m-big
  [[ $(sha m-big) == "$d_big" ]] || fail "big image digest"
  printf 'ok: 512 MiB/4 layers: generate %.1f s, push schema 2 %.1f s, push again as OCI (blobs present) %.1f s\n' \
    "$(awk "BEGIN{print $t1 - $t0}")" "$(awk "BEGIN{print $t2 - $t1}")" "$(awk "BEGIN{print $t3 - $t2}")"
  get_manifest "$ANON" ferry/big oci m-big-oci
  [[ $(sha m-big-oci) == "$d_big_oci" ]] || fail "big OCI image digest"
fi

echo "== stop"
"$REG" stop "$W/anon"
"$REG" stop "$W/auth"
if "$REG" status "$W/anon" >/dev/null || "$REG" status "$W/auth" >/dev/null; then fail "registry still running"; fi
ok "registries stopped"
echo "all checks passed"
