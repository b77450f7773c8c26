#!/usr/bin/env bash
# Installs what the test suite needs and is not part of the Go module graph:
# versitygw (a real S3-compatible server on 127.0.0.1), libnfs' command-line client,
# nfs-common and rpcbind (showmount, rpcinfo and a real rpcbind for the portmapper
# tests), and the nfsvm kernel NFS client VM (qemu + a Debian kernel, see internal/nfsvm).
set -euo pipefail
cd "$(dirname "$0")/.."
gobin=$(go env GOPATH)/bin

if [ ! -x "$gobin/versitygw" ] && ! command -v versitygw >/dev/null; then
  echo "test-deps: installing versitygw v1.8.0 (about two minutes on 2 cores)"
  (cd /tmp && go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v nfs-ls >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "test-deps: installing libnfs-utils"
    $sudo apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libnfs-utils >/dev/null \
      || echo "test-deps: libnfs-utils could not be installed; the libnfs client tests will be skipped"
  fi
fi

have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
if ! { have showmount && have rpcinfo && have rpcbind; } && command -v apt-get >/dev/null; then
  echo "test-deps: installing nfs-common and rpcbind (showmount, rpcinfo, rpcbind)"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nfs-common rpcbind >/dev/null \
    || echo "test-deps: nfs-common/rpcbind could not be installed; the portmapper client tests will be skipped"
fi

if ! command -v systemd-analyze >/dev/null && command -v apt-get >/dev/null; then
  echo "test-deps: installing systemd (systemd-analyze verifies the installed unit)"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

# The kernel client VM (internal/nfsvm): qemu, a Debian kernel, busybox, ... and
# its boot image in ${ZEROFS_NFSVM_CACHE:-/var/cache/zerofs-nfsvm}; quick when done.
echo "test-deps: preparing the nfsvm kernel client VM"
nfsvm_bin=$(mktemp -d)/nfsvm
trap 'rm -rf "$(dirname "$nfsvm_bin")"' EXIT
go build -o "$nfsvm_bin" ./internal/nfsvm/cmd/nfsvm
$sudo ${ZEROFS_NFSVM_CACHE:+env ZEROFS_NFSVM_CACHE="$ZEROFS_NFSVM_CACHE"} "$nfsvm_bin" setup
echo "test-deps: ready"
