# Cairn's container image: the static cairn binary and nothing else.
#
# Build it with `make image` (IMAGE=name:tag to choose the tag). That target
# compiles bin/image/cairn with CGO_ENABLED=0 on the host first, then runs
# `docker build` with this file; nothing is pulled from a registry, so the
# image builds air-gapped too. Building by hand:
#
#   deploy/docker/build-image.sh          # or: make image
#
# One entrypoint serves every role: `docker run IMAGE meta|node|gateway|server
# ...` and the CLI (`docker run IMAGE ls /`). The process runs as UID/GID
# 65532 with no shell, no package manager and no system CA bundle: Cairn's
# roles trust only the CA of their certificate directory (--certs-dir, env
# CAIRN_CERTS_DIR: ca.crt, tls.crt, tls.key). Mount it read-only, for example
# at /etc/cairn/tls; 65532 must be able to read tls.key: own it, or have its
# group with mode 0440 (Kubernetes does that with the pod's fsGroup 65532
# and a Secret's defaultMode 0440, Docker with --group-add GID). Data belongs
# on a mounted volume: /data is the working directory, owned by 65532, so a
# fresh Docker named volume or a Kubernetes PersistentVolume (with fsGroup
# 65532) mounted there is writable.
# The image declares no VOLUME on purpose: anonymous volumes would pile up
# with every `docker run` of a CLI command.
FROM scratch

ARG VERSION=dev
LABEL org.opencontainers.image.title="cairn" \
      org.opencontainers.image.description="Cairn distributed file store: metadata peer, data node, S3 gateway and CLI in one static binary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/cairnfs/cairn" \
      org.opencontainers.image.version="${VERSION}"

# The directory skeleton build-image.sh assembled: /etc/passwd and /etc/group
# naming UID/GID 65532 (cairn) and root, /etc/nsswitch.conf (hosts from
# /etc/hosts, then DNS), and /tmp with mode 1777. Then /data owned by the
# cairn user, and the binary.
COPY bin/image/rootfs/ /
COPY --chown=65532:65532 bin/image/data /data
COPY bin/image/cairn /cairn

USER 65532:65532
WORKDIR /data

# 9090 metadata gRPC, 8080 metadata HTTP (REST, /healthz, /readyz, /metrics),
# 9091 Raft, 7070 data node (data protocol, /healthz, /readyz, /metrics),
# 9000 S3 gateway (/-/healthz, /-/readyz, /-/metrics).
EXPOSE 7070 8080 9000 9090 9091

ENTRYPOINT ["/cairn"]
CMD ["help"]
