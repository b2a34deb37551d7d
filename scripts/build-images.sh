#!/usr/bin/env bash
# Builds Sluice's OCI images without a Docker engine, reproducibly: the same binaries give the same image
# digests. One command for users and the test bed:
#
#   scripts/build-images.sh [--bin-dir DIR] [--out DIR] [--tag TAG] [--push REGISTRY]
#     --bin-dir   directory with sluice-worker, sluice and sluice-operator (default: build them with
#                 `cargo build --release` into $CARGO_TARGET_DIR, else ~/.cache/sluice/target)
#     --out       where the OCI image layouts go (default ~/.cache/sluice/images): OUT/<image> per image
#     --tag       image tag (default: <workspace version>-<12-char commit>, with -dirty for a changed tree)
#     --push      also copy both images to REGISTRY (host:port, plain HTTP, e.g. 127.0.0.1:5000) with skopeo
#
# The images (Debian's umoci writes them; nothing is pulled):
#   sluice-worker    /usr/local/bin/sluice-worker (entrypoint) and /usr/local/bin/sluice (the CLI:
#                    `sluice audit explain|reproduce`, `verify`, ...; not `sluice audit compact`, which needs
#                    Python and PyIceberg: run that from a machine with audit/compact/venv.sh)
#   sluice-operator  /usr/local/bin/sluice-operator (entrypoint)
# Each holds the binaries, exactly the shared libraries they load (their `ldd` closure, from this machine's
# Debian packages), /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group with uid/gid 65532
# (`nonroot`, the user the image runs as) and an empty /tmp; nothing else: no shell, no package manager.
# Reproducible: every file has mtime 0, owner 0:0 and normalized modes, the config's and history's dates are
# the Unix epoch, and the layout is garbage-collected, so two builds from the same binaries are byte-equal.
# Prints one line per image: name, tag, manifest digest, compressed size.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
BIN_DIR="" OUT="$CACHE/images" TAG="" PUSH=""
while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --push) PUSH=$2; shift 2 ;;
    *) echo "build-images.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
"$ROOT/scripts/prereqs.sh" images
if [ -z "$BIN_DIR" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
  cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" -p sluice-worker -p sluice-cli -p sluice-operator \
    --bin sluice-worker --bin sluice --bin sluice-operator >&2
  BIN_DIR=$CARGO_TARGET_DIR/release
fi
if [ -z "$TAG" ]; then
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
  TAG="$version-$(git -C "$ROOT" rev-parse --short=12 HEAD)"
  [ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] || TAG="$TAG-dirty"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# rootfs DIR BINARY...: the binaries under /usr/local/bin, their shared libraries, certificates, users.
rootfs() {
  local dir=$1 bin lib
  shift
  mkdir -p "$dir/usr/local/bin" "$dir/etc/ssl/certs" "$dir/tmp"
  for bin in "$@"; do
    [ -x "$BIN_DIR/$bin" ] || { echo "build-images.sh: $BIN_DIR/$bin is missing" >&2; return 1; }
    install -m 0755 "$BIN_DIR/$bin" "$dir/usr/local/bin/$bin"
    # `ldd` lists every library the loader maps, the loader itself included; copied under the same path.
    for lib in $(ldd "$BIN_DIR/$bin" | grep -o '/[^ )]*'); do
      mkdir -p "$dir$(dirname "$lib")"
      [ -e "$dir$lib" ] || install -m 0644 "$(readlink -f "$lib")" "$dir$lib"
    done
  done
  chmod 0755 "$dir"/lib64/ld-linux-* 2>/dev/null || true
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' \
    > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/etc/group"
  chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
  find "$dir" -type d -exec chmod 0755 {} +
  chmod 1777 "$dir/tmp"
}

EPOCH=1970-01-01T00:00:00Z
# image NAME BINARIES CONFIG_ARGS...: writes OUT/NAME (an OCI layout) with TAG; BINARIES is space-separated,
# the first one is the entrypoint; CONFIG_ARGS go to `umoci config`.
image() {
  local name=$1 binaries=$2 layout="$OUT/$1"
  shift 2
  # shellcheck disable=SC2086 # BINARIES is a word list
  rootfs "$WORK/$name" $binaries
  if [ "$name" = sluice-worker ]; then
    # The default state directory (the operator mounts a volume over it), writable by the image's user only.
    install -d -m 0755 "$WORK/$name/var/lib"
    install -d -o 65532 -g 65532 -m 0750 "$WORK/$name/var/lib/sluice"
  fi
  # Last, so that no later change moves a directory's mtime off the epoch.
  find "$WORK/$name" -exec touch -h -d @0 {} +
  mkdir -p "$OUT"
  rm -rf "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:$TAG"
  umoci insert --image "$layout:$TAG" --history.created "$EPOCH" \
    --history.created_by "scripts/build-images.sh: $binaries" "$WORK/$name" /
  umoci config --image "$layout:$TAG" --created "$EPOCH" --history.created "$EPOCH" \
    --history.created_by "scripts/build-images.sh: config" \
    --config.user 65532:65532 --config.entrypoint "/usr/local/bin/${binaries%% *}" \
    --config.env PATH=/usr/local/bin --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.label "org.opencontainers.image.title=$name" \
    --config.label "org.opencontainers.image.version=$TAG" "$@"
  umoci gc --layout "$layout"
  local digest size
  digest=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$layout/index.json")
  size=$(du -sb "$layout/blobs" | cut -f1)
  echo "$name $TAG $digest $size"
  if [ -n "$PUSH" ]; then
    skopeo copy --quiet --dest-tls-verify=false "oci:$layout:$TAG" "docker://$PUSH/$name:$TAG" >&2
  fi
}

# The worker: state under /var/lib/sluice, JSON logs; 8080 the control API, 9091 Prometheus metrics.
# The worker: state under /var/lib/sluice, JSON logs; 8080 the control API, 9091 Prometheus metrics.
image sluice-worker "sluice-worker sluice" --config.workingdir /var/lib/sluice \
  --config.env SLUICE_STATE_DIR=/var/lib/sluice --config.env SLUICE_LOG_FORMAT=json \
  --config.exposedports 8080/tcp --config.exposedports 9091/tcp
# The operator: metrics and probes on 9090, JSON logs (the chart passes its own arguments).
image sluice-operator sluice-operator --config.workingdir /tmp \
  --config.cmd --metrics-addr=0.0.0.0:9090 --config.cmd --log-format=json --config.exposedports 9090/tcp
