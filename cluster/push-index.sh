#!/usr/bin/env bash
# push-index.sh - combine already pushed single-platform images into a Docker manifest
# list or an OCI image index (optionally with a BuildKit-style attestation manifest).
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
readonly MT_DOCKER=application/vnd.docker.distribution.manifest.v2+json
readonly MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
readonly MT_OCI=application/vnd.oci.image.manifest.v1+json
readonly MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
readonly MT_INTOTO=application/vnd.in-toto+json

usage() {
  cat <<USAGE
Usage: $PROG --registry HOST:PORT --repo REPO --tag TAG [--oci] [--attestation]
                     [--creds USER:PASS] TAG1 [TAG2...]

Fetches the single-platform manifests REPO:TAG1, REPO:TAG2, ... (schema 2 or OCI),
reads each platform (architecture, os, variant) from its config blob, and PUTs a
Docker manifest list (default) or an OCI image index (--oci) as REPO:TAG over
plain HTTP. Prints the list/index digest (sha256:...).

  --registry HOST:PORT  registry to use (plain HTTP)
  --repo REPO           repository holding the images, e.g. ferry/multi
  --tag TAG             tag for the list/index
  --oci                 push an OCI image index instead of a Docker manifest list
  --attestation         (with --oci) also push a BuildKit-style attestation manifest
                        (in-toto layer) for the first image and add it to the index
                        as platform unknown/unknown with vnd.docker.reference.*
                        annotations
  --creds USER:PASS     HTTP Basic credentials (htpasswd registries)
  -h, --help            show this help

Example:
  $PROG --registry 127.0.0.1:5000 --repo ferry/multi --tag latest amd64 arm64
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }
need_arg() { (($2 >= 2)) || die "$1 needs a value (see --help)"; }

registry="" repo="" tag="" oci=0 attestation=0 creds="" sources=()
while (($#)); do
  case "$1" in
    --registry) need_arg "$1" $#; registry=$2; shift ;;
    --repo) need_arg "$1" $#; repo=$2; shift ;;
    --tag) need_arg "$1" $#; tag=$2; shift ;;
    --oci) oci=1 ;;
    --attestation) attestation=1 ;;
    --creds) need_arg "$1" $#; creds=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) sources+=("$1") ;;
  esac
  shift
done

readonly repo_re='^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$'
readonly tag_re='^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'
[[ -n $registry ]] || die "--registry HOST:PORT is required (see --help)"
[[ $registry =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ || $registry =~ ^\[[0-9a-fA-F:]+\](:[0-9]+)?$ ]] \
  || die "--registry '$registry' is not HOST:PORT"
[[ -n $repo ]] || die "--repo REPO is required (see --help)"
[[ $repo =~ $repo_re ]] || die "--repo '$repo' is not a valid repository name"
[[ -n $tag ]] || die "--tag TAG is required (see --help)"
[[ $tag =~ $tag_re ]] || die "--tag '$tag' is not a valid tag"
((${#sources[@]})) || die "need at least one source tag TAG1 (see --help)"
for s in "${sources[@]}"; do
  [[ $s =~ $tag_re ]] || die "source tag '$s' is not a valid tag"
done
((attestation == 0 || oci)) || die "--attestation needs --oci (Docker manifest lists cannot carry it)"
[[ -z $creds || $creds == ?*:* ]] || die "--creds must be USER:PASS"
for c in curl jq sha256sum; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' not found (run cluster/deps.sh)"
done

base="http://$registry/v2/$repo"
work=$(mktemp -d "${TMPDIR:-/tmp}/push-index.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

curl_opts=(-s --max-time 60)
if [[ -n $creds ]]; then curl_opts+=(-u "$creds"); fi

# http METHOD URL OUTFILE [curl args...]: headers go to OUTFILE.h; prints the status.
http() {
  local method=$1 url=$2 out=$3
  shift 3
  local req=(-X "$method")
  if [[ $method == HEAD ]]; then req=(--head); fi
  local rc=0
  curl "${curl_opts[@]}" "${req[@]}" -o "$out" -D "$out.h" -w '%{http_code}' "$@" "$url" || rc=$?
  ((rc == 0)) || die "$method $url: request failed (curl exit $rc)"
}

# header FILE.h NAME: value of a response header (last one wins), without CR.
header() {
  awk -v n="$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" -F': *' '
    { sub(/\r$/, "") }
    tolower($1) == n { v = substr($0, index($0, ":") + 1); sub(/^ +/, "", v) }
    END { print v }' "$1"
}

# fail_http WHAT STATUS FILE: one-line error with the registry's error message.
fail_http() {
  local msg=""
  msg=$(jq -r '[.errors[]? | "\(.code): \(.message)"] | join("; ")' "$3" 2>/dev/null || true)
  if [[ $2 == 401 ]]; then
    local challenge
    challenge=$(header "$3.h" WWW-Authenticate)
    if [[ -n $creds ]]; then
      msg="${msg:+$msg; }challenge '$challenge'; check --creds"
    else
      msg="${msg:+$msg; }challenge '$challenge'; pass --creds USER:PASS"
    fi
  fi
  die "$1: HTTP $2${msg:+ ($msg)}"
}

sha256_of() { echo "sha256:$(sha256sum <"$1" | cut -d' ' -f1)"; }

# push_blob FILE: upload FILE as a blob (monolithic POST + PUT) unless present; prints digest.
push_blob() {
  local file=$1 digest code location sep
  digest=$(sha256_of "$file")
  code=$(http HEAD "$base/blobs/$digest" "$work/head")
  if [[ $code == 200 ]]; then
    echo "$digest"
    return
  fi
  code=$(http POST "$base/blobs/uploads/" "$work/post" -H 'Content-Length: 0')
  [[ $code == 202 ]] || fail_http "POST $base/blobs/uploads/" "$code" "$work/post"
  location=$(header "$work/post.h" Location)
  [[ -n $location ]] || die "POST $base/blobs/uploads/: no Location header"
  [[ $location == http://* || $location == https://* ]] || location="http://$registry$location"
  sep='?'
  [[ $location != *\?* ]] || sep='&'
  code=$(http PUT "$location${sep}digest=$digest" "$work/put" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$file")
  [[ $code == 201 ]] || fail_http "PUT blob $digest" "$code" "$work/put"
  echo "$digest"
}

# put_manifest REF FILE MEDIATYPE: PUT a manifest; checks the registry's digest.
put_manifest() {
  local ref=$1 file=$2 mt=$3 code digest got
  digest=$(sha256_of "$file")
  code=$(http PUT "$base/manifests/$ref" "$work/putm" -H "Content-Type: $mt" --data-binary "@$file")
  [[ $code == 201 ]] || fail_http "PUT $base/manifests/$ref" "$code" "$work/putm"
  got=$(header "$work/putm.h" Docker-Content-Digest)
  [[ -z $got || $got == "$digest" ]] || die "PUT $ref: registry digest $got differs from $digest"
  echo "$digest"
}

# Collect one descriptor (JSON) per source manifest.
descriptors=()
first_digest=""
accept="$MT_DOCKER, $MT_OCI, $MT_DOCKER_LIST, $MT_OCI_INDEX"
for i in "${!sources[@]}"; do
  src=${sources[i]}
  f=$work/manifest.$i
  code=$(http GET "$base/manifests/$src" "$f" -H "Accept: $accept")
  [[ $code == 200 ]] || fail_http "GET $repo:$src" "$code" "$f"
  mt=$(header "$f.h" Content-Type)
  mt=${mt%%;*}
  case "$mt" in
    "$MT_DOCKER"|"$MT_OCI") ;;
    "$MT_DOCKER_LIST"|"$MT_OCI_INDEX") die "$repo:$src is already a list/index ($mt); need a single-platform image" ;;
    *) die "$repo:$src has unsupported media type '$mt'" ;;
  esac
  body_mt=$(jq -r '.mediaType // empty' "$f") || die "$repo:$src: manifest is not JSON"
  [[ -z $body_mt || $body_mt == "$mt" ]] || die "$repo:$src: mediaType $body_mt disagrees with Content-Type $mt"
  digest=$(sha256_of "$f")
  hdr=$(header "$f.h" Docker-Content-Digest)
  [[ -z $hdr || $hdr == "$digest" ]] || die "$repo:$src: Docker-Content-Digest $hdr != sha256 of body $digest"
  size=$(stat -c %s "$f")
  if ((oci)) && [[ $mt == "$MT_DOCKER" ]]; then
    echo "$PROG: note: $repo:$src is a Docker schema 2 manifest inside an OCI index" >&2
  elif ((!oci)) && [[ $mt == "$MT_OCI" ]]; then
    echo "$PROG: note: $repo:$src is an OCI manifest inside a Docker manifest list" >&2
  fi

  config_digest=$(jq -r '.config.digest' "$f")
  [[ $config_digest =~ ^sha256:[a-f0-9]{64}$ ]] || die "$repo:$src: bad config digest '$config_digest'"
  c=$work/config.$i
  code=$(http GET "$base/blobs/$config_digest" "$c" -L)
  [[ $code == 200 ]] || fail_http "GET config $config_digest of $repo:$src" "$code" "$c"
  [[ $(sha256_of "$c") == "$config_digest" ]] || die "$repo:$src: config blob does not match $config_digest"
  platform=$(jq -c '{architecture: (.architecture // ""), os: (.os // "")}
      + (if (.variant // "") != "" then {variant: .variant} else {} end)
      + (if (."os.version" // "") != "" then {"os.version": ."os.version"} else {} end)' "$c") \
    || die "$repo:$src: config blob is not JSON"
  [[ $(jq -r '.architecture != "" and .os != ""' <<<"$platform") == true ]] \
    || die "$repo:$src: config has no architecture/os"

  descriptors+=("$(jq -cn --arg mt "$mt" --arg d "$digest" --argjson size "$size" --argjson p "$platform" \
    '{mediaType: $mt, digest: $d, size: $size, platform: $p}')")
  [[ -n $first_digest ]] || first_digest=$digest
done

if ((attestation)); then
  # A minimal in-toto statement about the first image, as BuildKit attaches for SBOM/provenance.
  jq -cnj --arg name "$repo" --arg hex "${first_digest#sha256:}" '{
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://slsa.dev/provenance/v0.2",
    subject: [{name: $name, digest: {sha256: $hex}}],
    predicate: {builder: {id: "ferry/push-index.sh"}, buildType: "ferry-test"}
  }' >"$work/statement.json"
  layer_digest=$(push_blob "$work/statement.json")
  jq -cnj --arg l "$layer_digest" \
    '{architecture: "unknown", os: "unknown", config: {}, rootfs: {type: "layers", diff_ids: [$l]}}' \
    >"$work/att-config.json"
  config_digest=$(push_blob "$work/att-config.json")
  jq -cnj --arg c "$config_digest" --argjson cs "$(stat -c %s "$work/att-config.json")" \
      --arg l "$layer_digest" --argjson ls "$(stat -c %s "$work/statement.json")" \
      --arg mt "$MT_OCI" --arg cmt "$MT_OCI_CONFIG" --arg lmt "$MT_INTOTO" '{
    schemaVersion: 2,
    mediaType: $mt,
    config: {mediaType: $cmt, digest: $c, size: $cs},
    layers: [{mediaType: $lmt, digest: $l, size: $ls,
              annotations: {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]
  }' >"$work/att-manifest.json"
  att_digest=$(sha256_of "$work/att-manifest.json")
  put_manifest "$att_digest" "$work/att-manifest.json" "$MT_OCI" >/dev/null
  descriptors+=("$(jq -cn --arg mt "$MT_OCI" --arg d "$att_digest" \
    --argjson size "$(stat -c %s "$work/att-manifest.json")" --arg ref "$first_digest" \
    '{mediaType: $mt, digest: $d, size: $size, platform: {architecture: "unknown", os: "unknown"},
      annotations: {"vnd.docker.reference.digest": $ref,
                    "vnd.docker.reference.type": "attestation-manifest"}}')")
fi

if ((oci)); then index_mt=$MT_OCI_INDEX; else index_mt=$MT_DOCKER_LIST; fi
printf '%s\n' "${descriptors[@]}" | jq -scj --arg mt "$index_mt" \
  '{schemaVersion: 2, mediaType: $mt, manifests: .}' >"$work/index.json"
put_manifest "$tag" "$work/index.json" "$index_mt"
