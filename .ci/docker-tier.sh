#!/usr/bin/env bash
# Docker tier: Cairn's image and its Kubernetes configuration, for real, on
# a local Docker engine.
#
#   1. build the image (deploy/docker/build-image.sh, i.e. `make image`);
#   2. have the manifest tests write what the kubelet would give each pod of
#      deploy/kubernetes/base (arguments, resolved environment, DNS name,
#      the Secret with its certificate directory and where it is mounted)
#      and what each certificate must name (render.CertRecipeFor);
#   3. issue the certificate Secrets as folders on the host with the image's
#      own binary (`cairn cert`, as docs/kubernetes.md does by hand): a CA,
#      one certificate per role, an admin client certificate, and the
#      secrets key the metadata pods mount (cairn-secrets-key); their files
#      get the mode and group the kubelet gives a Secret's (0440, group
#      65532 as the pods' fsGroup; without root: our group, which the
#      containers get with --group-add);
#   4. on a private, internal Docker network, start 3 metadata peers and 3
#      data nodes from the image with exactly that configuration: each
#      container answers to its pod's DNS name
#      (cairn-meta-0.cairn-meta.<ns>.svc.cluster.local, ...), runs as the
#      image's non-root user with a read-only root file system and no
#      capabilities, keeps its data on its own Docker volume and mounts its
#      role's certificate folder read-only where the pod mounts the Secret;
#   5. wait until the metadata peers have a leader and all data nodes are
#      alive (the CLI runs in a container on the same network, with the
#      admin certificate);
#   6. check that the peers refuse a client without a certificate, and that
#      the probes' HTTPS endpoints answer one, and that they loaded the
#      secrets key (`cairn admin reseal-secrets` finds nothing unsealed);
#   7. write 20 files of assorted sizes (made on the host, mounted read-only
#      into the client containers), `docker kill` one data node, read every
#      file back and compare SHA-256 sums on the host;
#   8. if the image has `cairn gateway`, start an S3 gateway as the base's
#      Deployment configures it and check that it stored its root key;
#   9. remove every container, volume and network it made (and the image,
#      unless IMAGE was given), on success, failure or Ctrl-C.
#
# Without a Docker engine it prints "docker tier: SKIPPED (no Docker
# engine)" and exits 0. No port is published; the host never connects to a
# container. Environment: IMAGE (default: a throw-away tag), KEEP=1 to keep
# the containers and volumes for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "docker tier: SKIPPED (no Docker engine)"
  exit 0
fi

start=$(date +%s)
say() { echo "docker tier [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "docker tier: FAILED: $*" >&2; exit 1; }

run=cairn-ci-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
label=cairn-docker-tier=$run
net=$run
work=$(mktemp -d)
own_image=0
if [ -z "${IMAGE:-}" ]; then
  IMAGE=cairn:docker-tier-${run#cairn-ci-}
  own_image=1
fi
export IMAGE

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local cs
  cs=$(docker ps -aq --filter "label=$label")
  if [ "$rc" -ne 0 ] && [ -n "$cs" ]; then
    for c in $cs; do
      echo "----- docker logs $(docker inspect -f '{{.Name}}' "$c" | tr -d /) (last 40 lines)" >&2
      docker logs --tail 40 "$c" 2>&1 | sed 's/^/  /' >&2
    done
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "docker tier: KEEP=1: left containers, volumes and network $net (label $label) and $work" >&2
  else
    [ -n "$cs" ] && docker rm -f -v $cs >/dev/null
    docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null
    docker network ls -q --filter "label=$label" | xargs -r docker network rm >/dev/null
    if [ "$own_image" = 1 ]; then
      docker rmi "$IMAGE" >/dev/null 2>&1
    fi
    rm -rf "$work"
  fi
  if [ "$rc" -eq 0 ]; then
    say "PASSED"
  else
    echo "docker tier: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building image $IMAGE"
deploy/docker/build-image.sh >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "image build"; }
tail -1 "$work/build.log"

say "resolving the base manifests' pod configurations"
mkdir -p "$work/pods"
CAIRN_POD_CONFIG_DIR="$work/pods" go test -count=1 -run '^TestWritePodConfigs$' ./deploy/kubernetes >"$work/pods.log" 2>&1 ||
  { cat "$work/pods.log" >&2; fail "writing pod configurations"; }
for p in cairn-meta-0 cairn-meta-1 cairn-meta-2 cairn-node-0 cairn-node-1 cairn-node-2; do
  [ -s "$work/pods/$p.env" ] && [ -s "$work/pods/$p.tls" ] || fail "no configuration for pod $p"
done

say "issuing the certificate Secrets with the image's cairn cert"
certs=$work/certs
bin/image/cairn cert create-ca --ca-dir "$certs/ca" >/dev/null
for f in "$work/pods"/*.cert; do
  secret=$(basename "$f" .cert)
  mapfile -t certargs <"$f"
  bin/image/cairn cert create-node --ca-dir "$certs/ca" --out "$certs/$secret" "${certargs[@]}" | sed 's/^/  /'
done
bin/image/cairn cert create-client --ca-dir "$certs/ca" --out "$certs/admin" --name operator --admin | sed 's/^/  /'
# The other Secrets the pods mount (<pod>.secrets): the data nodes'
# encryption key and the metadata peers' secrets key, made as an operator would (docs/kubernetes.md).
for f in "$work/pods"/*.secrets; do
  while read -r secret _; do
    [ -n "$secret" ] && [ ! -d "$certs/$secret" ] || continue
    case $secret in
    cairn-node-encryption-key)
      mkdir -p "$certs/$secret"
      bin/image/cairn cert create-key --out "$certs/$secret/encryption.key" >/dev/null ;;
    cairn-secrets-key) # docs/kubernetes.md, "The secrets key"
      mkdir -p "$certs/$secret"
      bin/image/cairn cert create-key --out "$certs/$secret/secrets.key" >/dev/null ;;
    *) fail "pods mount the Secret $secret, which this tier does not know how to make" ;;
    esac
  done <"$f"
done
# As the kubelet mounts a Secret: root's files (here the host user's), the
# pods' fsGroup as their group, mode 0440. The CA's key stays in $certs/ca,
# which no container mounts.
if [ "$(id -u)" = 0 ]; then cert_gid=65532; else cert_gid=$(id -g); fi
for d in "$certs"/cairn-*-tls "$certs"/cairn-node-encryption-key "$certs/cairn-secrets-key" "$certs/admin"; do
  [ -d "$d" ] || continue
  chgrp -R "$cert_gid" "$d"
  chmod 0750 "$d"
  chmod 0440 "$d"/*
done

# --internal: no route out of the network. Containers reach each other by
# the aliases below; nothing else.
docker network create --internal --label "$label" "$net" >/dev/null

# The flags every container gets (servers and CLI): what the securityContext
# of the pods says (non-root is the image's USER), plus a tmpfs for /tmp as the
# pods' emptyDir. GRPC_ENABLE_TXT_SERVICE_CONFIG=false: gRPC's DNS resolver looks
# up a TXT record for every target, and Docker's DNS on an internal network
# never answers names it does not know, so each lookup would stall 10 s
# (cluster DNS answers NXDOMAIN at once).
# --group-add: the certificates' group, as Kubernetes adds the fsGroup.
common=(--label "$label" --network "$net" --read-only --tmpfs /tmp:rw,size=64m,mode=1777
  --cap-drop ALL --security-opt no-new-privileges -e GRPC_ENABLE_TXT_SERVICE_CONFIG=false
  --group-add "$cert_gid")

# tls_mount <pod>: the -v option mounting the pod's certificate Secret.
tls_mount() {
  local secret path
  read -r secret path <"$work/pods/$1.tls"
  [ -d "$certs/$secret" ] || fail "pod $1 mounts the Secret $secret, which was not issued"
  echo "$certs/$secret:$path:ro"
}

# secret_mounts <pod>: the -v options mounting the pod's other Secrets.
secret_mounts() {
  local secret path
  [ -f "$work/pods/$1.secrets" ] || return 0
  while read -r secret path; do
    [ -n "$secret" ] || continue
    [ -d "$certs/$secret" ] || fail "pod $1 mounts the Secret $secret, which was not made"
    printf '%s\n' -v "$certs/$secret:$path:ro"
  done <"$work/pods/$1.secrets"
}

# start_pod <pod>: one container configured like the Kubernetes pod.
start_pod() {
  local pod=$1 args fqdn mounts
  mapfile -t args <"$work/pods/$pod.args"
  mapfile -t mounts < <(secret_mounts "$pod")
  fqdn=$(cat "$work/pods/$pod.fqdn")
  docker volume create --label "$label" "$run-$pod" >/dev/null
  docker run -d --name "$run-$pod" --hostname "$pod" --network-alias "$fqdn" "${common[@]}" \
    -v "$run-$pod:/data" -v "$(tls_mount "$pod")" "${mounts[@]}" --env-file "$work/pods/$pod.env" "$IMAGE" "${args[@]}" >/dev/null
}

say "starting 3 metadata peers and 3 data nodes on network $net"
for p in cairn-meta-0 cairn-meta-1 cairn-meta-2 cairn-node-0 cairn-node-1 cairn-node-2; do
  start_pod "$p"
done

# The client finds the cluster the way the data nodes do.
meta=$(sed -n 's/^METADATA_SERVER_ADDR=//p' "$work/pods/cairn-node-0.env")
[ -n "$meta" ] || fail "no METADATA_SERVER_ADDR in the data nodes' environment"
mkdir -p "$work/in" "$work/out"
chmod 0755 "$work/in"
chmod 0777 "$work/out" # the client containers run as UID 65532

# cli <cairn args...>: the CLI in a throw-away container on the network,
# with the admin certificate at /etc/cairn/admin and the test files at /in
# (read-only) and /out. A script, so that xargs can run it too.
{
  echo '#!/usr/bin/env bash'
  printf 'exec timeout 120 docker run --rm'
  printf ' %q' "${common[@]}" -e "CAIRN_META=$meta" -e CAIRN_CHUNK_SIZE=1M \
    -v "$certs/admin:/etc/cairn/admin:ro" -e CAIRN_CERTS_DIR=/etc/cairn/admin \
    -v "$work/in:/in:ro" -v "$work/out:/out" "$IMAGE"
  echo ' "$@"'
} >"$work/cli"
chmod +x "$work/cli"
cli() { "$work/cli" "$@"; }

# check_running: every server container is still up.
check_running() {
  local c
  for c in "$@"; do
    [ "$(docker inspect -f '{{.State.Running}}' "$run-$c")" = true ] ||
      fail "container $c exited: $(docker inspect -f '{{.State.Status}} (exit {{.State.ExitCode}})' "$run-$c")"
  done
}

say "waiting for a leader and 3 live data nodes"
deadline=$(( $(date +%s) + 90 ))
while :; do
  check_running cairn-meta-0 cairn-meta-1 cairn-meta-2 cairn-node-0 cairn-node-1 cairn-node-2
  if cli cluster status >"$work/status" 2>&1 && grep -q '^leader: ' "$work/status" &&
    [ "$(grep -c ' alive ' "$work/status")" -eq 3 ]; then
    break
  fi
  [ "$(date +%s)" -lt "$deadline" ] || { cat "$work/status" >&2; fail "no leader with 3 live data nodes after 90s"; }
  sleep 2
done
sed 's/^/  /' "$work/status"

say "checking that the cluster wants certificates, and the right ones"
# Plain gRPC (a client of a cluster run with --insecure) gets no answer from
# a TLS port: the CLI would retry for 30 s, so 15 s without the status (the
# admin's CLI had it at once) will do. A user's certificate may not list the
# S3 keys (admin only).
if timeout 15 docker run --rm "${common[@]}" -e "CAIRN_META=$meta" -e CAIRN_INSECURE=1 "$IMAGE" \
  cluster status >"$work/insecure" 2>&1; then
  cat "$work/insecure" >&2
  fail "a client without TLS got the cluster status"
fi
echo "  without TLS: no cluster status within 15 s"
bin/image/cairn cert create-client --ca-dir "$certs/ca" --out "$certs/user" --name ci-user >/dev/null
chgrp -R "$cert_gid" "$certs/user" && chmod 0750 "$certs/user" && chmod 0440 "$certs/user"/*
if timeout 90 docker run --rm "${common[@]}" -e "CAIRN_META=$meta" -v "$certs/user:/etc/cairn/user:ro" \
  -e CAIRN_CERTS_DIR=/etc/cairn/user "$IMAGE" s3 user list >"$work/user" 2>&1; then
  cat "$work/user" >&2
  fail "a user's certificate listed the S3 keys"
fi
grep -qi 'permission\|may not' "$work/user" || { cat "$work/user" >&2; fail "a user's certificate was refused for another reason than permission"; }
echo "  with a user's certificate, s3 user list: $(tail -1 "$work/user" | cut -c1-160)"
# The peers loaded the secrets key from its Secret: resealing needs one
# (without a key it is refused), and finds everything sealed already.
cli admin reseal-secrets >"$work/reseal" 2>&1 || { cat "$work/reseal" >&2; fail "admin reseal-secrets: the metadata peers have no secrets key"; }
grep -q '^resealed 0 S3 secret(s) and 0 token signing key(s)' "$work/reseal" || { cat "$work/reseal" >&2; fail "secrets stored unsealed although the peers have a key"; }
echo "  secrets key: $(head -1 "$work/reseal")"

# 20 files from empty to 6 MiB: chunk-sized (1 MiB chunks) and off by one,
# unaligned, many chunks.
sizes=(0 1 100 4095 4096 4097 65536 300000 1048575 1048576 1048577 1500000 2097152 2500001 3145728 3333333 4194303 5000000 5242880 6291456)
total=0
for i in "${!sizes[@]}"; do
  f=$(printf 'f%02d' "$i")
  head -c "${sizes[$i]}" /dev/urandom >"$work/in/$f"
  total=$(( total + sizes[i] ))
done
chmod 0644 "$work/in"/*
(cd "$work/in" && sha256sum f*) >"$work/sums"
# each <cairn args...>: run a CLI command for every file, four at a time;
# {} stands for the file name. Output goes to each.out and each.err.
each() {
  : >"$work/each.out"
  : >"$work/each.err"
  ls "$work/in" | xargs -P 4 -I{} "$work/cli" "$@" >>"$work/each.out" 2>>"$work/each.err"
}

say "writing ${#sizes[@]} files, $(( total / 1024 )) KiB, replication 3"
each put -q /in/{} /ci/{} || { cat "$work/each.err" >&2; fail "put"; }
cli ls -l /ci | sed 's/^/  /'
[ "$(cli ls /ci | wc -l)" -eq "${#sizes[@]}" ] || fail "ls /ci does not list ${#sizes[@]} files"
cli fsck >"$work/fsck" 2>&1 || { cat "$work/fsck" >&2; fail "fsck after writing"; }
sed 's/^/  /' "$work/fsck"
echo "  chunks of /ci/f19:"
cli locate /ci/f19 | sed 's/^/    /'

say "docker kill cairn-node-1"
docker kill "$run-cairn-node-1" >/dev/null

say "reading every file back"
each get /ci/{} /out/{} || { cat "$work/each.err" >&2; fail "get after killing a data node"; }
(cd "$work/out" && sha256sum --quiet -c "$work/sums") || fail "files read back differ from those written"
fallbacks=$(grep -c 'trying another replica' "$work/each.err" || true)
say "all ${#sizes[@]} files read back intact ($fallbacks chunk reads fell over to another replica)"
check_running cairn-meta-0 cairn-meta-1 cairn-meta-2 cairn-node-0 cairn-node-2
cli cluster status 2>&1 | sed -n '/^NODE/,/^$/p' | sed 's/^/  /'

if docker run --rm --network none "$IMAGE" help | grep -q '^  gateway '; then
  say "starting an S3 gateway as the base's Deployment configures it"
  gw=$(basename "$(ls "$work/pods"/cairn-gateway-*.args)" .args)
  mapfile -t args <"$work/pods/$gw.args"
  docker run -d --name "$run-$gw" --hostname "$gw" "${common[@]}" \
    -v "$(tls_mount "$gw")" --env-file "$work/pods/$gw.env" "$IMAGE" "${args[@]}" >/dev/null
  key=$(sed -n 's/^CAIRN_ACCESS_KEY=//p' "$work/pods/$gw.env")
  deadline=$(( $(date +%s) + 60 ))
  until cli s3 user list 2>/dev/null | grep -q "^$key "; do
    check_running "$gw"
    [ "$(date +%s)" -lt "$deadline" ] || fail "the gateway did not store its access key $key within 60s"
    sleep 2
  done
  check_running "$gw"
  say "gateway up; its root access key $key is stored in the metadata service"
else
  say "this cairn has no gateway role; S3 gateway check skipped"
fi
