# syntax=docker/dockerfile:1.7
# Images for the operator and the worker, from one builder stage. Documented in docs/operations.md; not built
# in CI (the test suite runs the binaries directly).
#
#   docker build --target operator -t sluice/sluice-operator:0.1.0 .
#   docker build --target worker   -t sluice/sluice-worker:0.1.0 .
#
# Both run as uid/gid 65532 (non-root) and work with a read-only root filesystem: the worker writes only to
# /var/lib/sluice (mount a volume there; the operator does) and /tmp.

ARG RUST_VERSION=1.95
# Builder and runtime share the Debian release, so the dynamically linked libraries match.
ARG DEBIAN=bookworm

# ---- build --------------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN} AS build
# librdkafka (cmake build with SSL, SASL, curl for OIDC, zlib) and RocksDB (bindgen needs libclang).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libclang-dev cmake libssl-dev libsasl2-dev libcurl4-openssl-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the (large: RocksDB, librdkafka) target dir between builds; binaries are
# copied out in the same step because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sluice-operator -p sluice-runtime \
 && mkdir -p /out \
 && cp target/release/sluice-operator target/release/sluice-worker target/release/sluice /out/

# ---- operator: static-enough Rust (rustls, no OpenSSL) on distroless glibc ------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS operator
COPY --from=build /out/sluice-operator /usr/local/bin/sluice-operator
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/sluice-operator"]
CMD ["--metrics-addr", "0.0.0.0:9090", "--log-format", "json"]

# ---- worker: needs librdkafka's shared dependencies (OpenSSL, SASL, curl, zlib) -----------------------------
FROM debian:${DEBIAN}-slim AS worker
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libsasl2-2 libsasl2-modules libcurl4 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 sluice \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/sluice
COPY --from=build /out/sluice-worker /out/sluice /usr/local/bin/
ENV SLUICE_STATE_DIR=/var/lib/sluice \
    SLUICE_LOG_FORMAT=json
USER 65532:65532
WORKDIR /var/lib/sluice
VOLUME ["/var/lib/sluice"]
# 8080: control API (/healthz, /readyz, /v1/...); 9091: Prometheus metrics.
EXPOSE 8080 9091
ENTRYPOINT ["/usr/local/bin/sluice-worker"]
