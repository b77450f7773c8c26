#!/usr/bin/env bash
# Installs what the test suite needs and is not part of the Go module graph:
# versitygw (a real S3-compatible server on 127.0.0.1), libnfs' command-line client,
# nfs-common and rpcbind (showmount, rpcinfo and a real rpcbind for the portmapper
# tests), cpio, systemd-analyze, and the nfsvm kernel NFS client VM (qemu + a Debian
# kernel, see internal/nfsvm). It fails when anything cannot be installed: `make test`
# runs with ZEROFS_REQUIRE_S3, ZEROFS_REQUIRE_KERNEL and ZEROFS_REQUIRE_HOST set, so a
# missing tool would fail the tests that need it anyway, later and less clearly.
set -euo pipefail
cd "$(dirname "$0")/.."
gobin=$(go env GOPATH)/bin

if [ ! -x "$gobin/versitygw" ] && ! command -v versitygw >/dev/null; then
  echo "test-deps: installing versitygw v1.8.0 (about two minutes on 2 cores)"
  (cd /tmp && go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# have TOOL: on PATH, or in /usr/sbin (which a user's PATH may lack).
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }

# need PACKAGE TOOL...: installs the Debian package PACKAGE unless every TOOL
# is there, and fails unless every TOOL is there afterwards.
updated=""
need() {
  local pkg=$1 tool missing=()
  shift
  for tool in "$@"; do have "$tool" || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "test-deps: ${missing[*]} missing and no apt-get to install the Debian package $pkg" >&2
    exit 1
  fi
  echo "test-deps: installing $pkg (${missing[*]})"
  if [ -z "$updated" ]; then
    $sudo apt-get update -qq >/dev/null
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  for tool in "${missing[@]}"; do
    have "$tool" || { echo "test-deps: $pkg is installed but $tool is still missing" >&2; exit 1; }
  done
}

need libnfs-utils nfs-ls nfs-cp nfs-cat
need nfs-common showmount
need rpcbind rpcbind rpcinfo
need cpio cpio
need systemd systemd-analyze

# The kernel client VM (internal/nfsvm): qemu, a Debian kernel, busybox, ... and
# its boot image in ${ZEROFS_NFSVM_CACHE:-/var/cache/zerofs-nfsvm}; quick when done.
echo "test-deps: preparing the nfsvm kernel client VM"
nfsvm_bin=$(mktemp -d)/nfsvm
trap 'rm -rf "$(dirname "$nfsvm_bin")"' EXIT
go build -o "$nfsvm_bin" ./internal/nfsvm/cmd/nfsvm
$sudo ${ZEROFS_NFSVM_CACHE:+env ZEROFS_NFSVM_CACHE="$ZEROFS_NFSVM_CACHE"} "$nfsvm_bin" setup
echo "test-deps: ready"
