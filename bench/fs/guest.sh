#!/bin/sh
# The workloads of one target, run inside the nfsvm guest. bench/fs fills in the
# @...@ parameters (the guest's environment is cleared) and parses the
# "BENCH target workload nanoseconds count unit status [reason]" lines it prints.
TARGET=@TARGET@
BUCKET=@BUCKET@
WORK=@WORK@
BIN=$WORK/benchfs
S3PORT=@S3PORT@
MPORT=@MPORT@
CPORT=@CPORT@
S3=@S3@
WORKLOADS=" @WORKLOADS@ "
N=@N@
FIOSIZE=@FIOSIZE@
FIORAND=@FIORAND@
TARFILES=@TARFILES@
TMO=@TIMEOUT@
MIDFILES=16
MIDSIZE=1048576

mountpoint_of() {
  case "$TARGET" in
    tmp) echo /tmp/local ;;
    zerofs-*|go-nfs) echo "$NFS" ;;
    *) echo /tmp/mnt ;;
  esac
}
ROOT=$(mountpoint_of)
D=$ROOT/bench

# "sh script wl NAME" runs one workload (so that timeout can bound it).
if [ "${1:-}" = wl ]; then
  set -e
  cd "$D"
  case "$2" in
    noop) "$BIN" guest noop ;;
    smallfiles) "$BIN" guest write-files "$D/small" "$N" 4096 ;;
    modify) "$BIN" guest modify "$D/mid" "$N" ;;
    append) "$BIN" guest append "$D/log" "$N" 4096 ;;
    emptyfiles) "$BIN" guest create "$D/empty" "$N" ;;
    mkdirs) "$BIN" guest mkdirs "$D/dirs" "$N" ;;
    randread) "$BIN" guest randread "$D/mid" "$N" ;;
    traverse) find "$D" -ls > /dev/null ;;
    rename) "$BIN" guest rename "$D/small" "$N" ;;
    delete) "$BIN" guest delete "$D/small" ;;
    tar) mkdir -p "$D/src" && tar -xf "$WORK/gosrc.tar" -C "$D/src" ;;
    git) cd "$D/src" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -q -m import ;;
    gobuild) cd "$D/mod" && go build -o "$D/mod/app" . ;;
    fio-seqwrite) fio --name=seqwrite --filename="$D/fio.dat" --rw=write --bs=1M --size="$FIOSIZE" --ioengine=psync --end_fsync=1 ;;
    fio-seqread) fio --name=seqread --filename="$D/fio.dat" --rw=read --bs=1M --size="$FIOSIZE" --ioengine=psync ;;
    fio-randwrite) fio --name=randwrite --filename="$D/fio.dat" --rw=randwrite --bs=4k --size="$FIOSIZE" --io_size="$FIORAND" --ioengine=psync --end_fsync=1 --randseed=1 ;;
    fio-randread) fio --name=randread --filename="$D/fio.dat" --rw=randread --bs=4k --size="$FIOSIZE" --io_size="$FIORAND" --ioengine=psync --randseed=2 ;;
    cold-traverse) find "$D" -ls > /dev/null ;;
    cold-seqread) fio --name=coldseqread --filename="$D/fio.dat" --rw=read --bs=1M --size="$FIOSIZE" --ioengine=psync ;;
    cold-randread) fio --name=coldrandread --filename="$D/fio.dat" --rw=randread --bs=4k --size="$FIOSIZE" --io_size="$FIORAND" --ioengine=psync --randseed=3 ;;
    *) echo "unknown workload $2"; exit 2 ;;
  esac
  sync
  exit 0
fi

note() { echo "NOTE $TARGET $*"; }
selected() { case "$WORKLOADS" in *" $1 "*) return 0 ;; esac; return 1; }
scrape() {
  [ "$MPORT" != 0 ] && "$BIN" guest scrape "http://$NFS_HOST:$MPORT/metrics" "$OUT/$1" 2>/dev/null
  # The requests the S3 proxy saw, for every target with a bucket.
  [ "$S3" = 1 ] && "$BIN" guest scrape "http://$NFS_HOST:$CPORT/s3metrics" "$OUT/$1.s3" 2>/dev/null
  # The guest kernel's own per-call counters of every NFS mount.
  case "$TARGET" in zerofs-*|go-nfs) cp /proc/self/mountstats "$OUT/$1.mountstats" 2>/dev/null ;; esac
  true
}
dropcaches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# mount_fuse mounts the bucket of s3fs or rclone at $ROOT, through the S3 proxy.
# rclone runs in the foreground of a background job (its --daemon would start
# its remote control twice), serving its remote control for rclone_drain.
RCLONE_PID=""
mount_fuse() {
  case "$TARGET" in
    s3fs) s3fs "$BUCKET" "$ROOT" -o passwd_file=/tmp/s3fs.passwd,url=http://$NFS_HOST:$S3PORT,use_path_request_style,use_cache=/tmp/s3fs-cache,nonempty 2>&1 ;;
    rclone)
      rclone mount "s3:$BUCKET" "$ROOT" --config /tmp/rclone.conf --vfs-cache-mode writes --cache-dir /tmp/rclone-cache \
        --rc --rc-addr 127.0.0.1:5572 --rc-no-auth > /tmp/rclone.log 2>&1 &
      RCLONE_PID=$! ;;
  esac
  i=0; while [ $i -lt 120 ] && ! mountpoint -q "$ROOT"; do sleep 1; i=$((i + 1)); done
  mountpoint -q "$ROOT" && return 0
  [ "$TARGET" = rclone ] && tail -c 300 /tmp/rclone.log
  return 1
}

# rclone_drain waits until rclone has uploaded every file written through
# its cache (it uploads after close, in the background).
rclone_drain() {
  i=0
  while [ $i -lt 1800 ]; do
    st=$(rclone rc --url http://127.0.0.1:5572 vfs/stats 2>&1) || { echo "rclone rc vfs/stats: $st"; return 1; }
    echo "$st" | grep -q '"uploadsInProgress"' || { echo "rclone's vfs/stats has no upload counters: $st"; return 1; }
    echo "$st" | grep -Eq '"uploadsInProgress": *0' && echo "$st" | grep -Eq '"uploadsQueued": *0' && return 0
    sleep 1; i=$((i + 1))
  done
  echo "rclone still uploading after 30 minutes"; return 1
}

# unmount_fuse unmounts $ROOT and waits for rclone's process to end.
unmount_fuse() {
  umount "$ROOT" || return 1
  i=0; while [ $i -lt 30 ] && mountpoint -q "$ROOT"; do sleep 1; i=$((i + 1)); done
  if [ -n "$RCLONE_PID" ]; then
    i=0; while [ $i -lt 30 ] && kill -0 "$RCLONE_PID" 2>/dev/null; do sleep 1; i=$((i + 1)); done
    kill "$RCLONE_PID" 2>/dev/null; wait "$RCLONE_PID" 2>/dev/null; RCLONE_PID=""
  fi
  return 0
}

# restart makes the next workload start cold: zerofsd stopped, its disk
# cache emptied and started again (by the host); s3fs and rclone unmounted,
# their caches removed and mounted again; and the guest's page cache dropped.
restart() {
  cd /
  case "$TARGET" in
    zerofs-*) "$BIN" guest restart "http://$NFS_HOST:$CPORT/restart?target=$TARGET" || return 1 ;;
    s3fs|rclone)
      sync
      [ "$TARGET" = rclone ] && { rclone_drain || return 1; }
      unmount_fuse || return 1
      rm -rf /tmp/s3fs-cache /tmp/rclone-cache
      mount_fuse || { echo "mounting $TARGET again failed"; return 1; }
      ;;
  esac
  dropcaches
}

# run NAME COUNT UNIT [cold|restart]: time one workload, from the guest's clock,
# if it was selected.
run() {
  name=$1; count=$2; unit=$3
  selected "$name" || return 0
  if [ -n "$MOUNTFAIL" ]; then
    echo "BENCH $TARGET $name 0 $count $unit failed $MOUNTFAIL"; return 0
  fi
  case "${4:-}" in
    cold) dropcaches ;;
    restart)
      if ! restart > /tmp/wl.log 2>&1; then
        echo "BENCH $TARGET $name 0 $count $unit failed restart: $(tail -c 300 /tmp/wl.log | tr '\n\t' '  ')"
        return 0
      fi ;;
  esac
  scrape "$name.before"
  s=$(date +%s%N)
  timeout "$TMO" sh "$0" wl "$name" > /tmp/wl.log 2>&1
  rc=$?
  e=$(date +%s%N)
  scrape "$name.after"
  if [ $rc = 0 ]; then
    echo "BENCH $TARGET $name $((e - s)) $count $unit ok"
  else
    [ $rc = 124 ] && echo "timed out after ${TMO}s" >> /tmp/wl.log
    echo "BENCH $TARGET $name $((e - s)) $count $unit failed $(tail -c 300 /tmp/wl.log | tr '\n\t' '  ')"
  fi
}

MOUNTFAIL=""
case "$TARGET" in
  tmp) mkdir -p "$ROOT" ;;
  zerofs-*|go-nfs) ;;
  s3fs)
    echo test:testsecret > /tmp/s3fs.passwd; chmod 600 /tmp/s3fs.passwd; mkdir -p "$ROOT"
    mount_fuse > /tmp/mount.log 2>&1 || MOUNTFAIL="s3fs mount failed: $(tail -c 200 /tmp/mount.log | tr '\n\t' '  ')"
    ;;
  rclone)
    printf '[s3]\ntype = s3\nprovider = Other\naccess_key_id = test\nsecret_access_key = testsecret\nendpoint = http://%s:%s\nforce_path_style = true\n' "$NFS_HOST" "$S3PORT" > /tmp/rclone.conf
    mkdir -p "$ROOT"
    mount_fuse > /tmp/mount.log 2>&1 || MOUNTFAIL="rclone mount failed: $(tail -c 200 /tmp/mount.log | tr '\n\t' '  ')"
    ;;
esac
mkdir -p "$D" || { note "cannot create $D"; }
note "mounted: $(grep " $ROOT " /proc/mounts | head -1)"
case "$TARGET" in
  zerofs-*|go-nfs) "$BIN" guest rtt "$TARGET" "$NFS_HOST:$NFS_PORT" 200 || note "measuring the NULL round trip failed" ;;
esac

# Untimed preparation, for the workloads that need it: a warm build cache and
# the module to build; files to modify and read.
if selected gobuild; then
  mkdir -p /tmp/gocache && cp -a "$WORK/gocache/." /tmp/gocache/
  cp -r "$WORK/mod" /tmp/warm && (cd /tmp/warm && go build -o /tmp/warm/app .) > /dev/null 2>&1 || note "warming the build cache failed"
  cp -r "$WORK/mod" "$D/mod" || note "copying the module failed"
fi
if selected modify || selected randread; then
  "$BIN" guest prep-mid "$D/mid" $MIDFILES $MIDSIZE || note "preparing $D/mid failed"
fi
sync

run noop 1 runs
run smallfiles "$N" files
run modify "$N" writes
run append "$N" writes
run emptyfiles "$N" files
run mkdirs "$N" dirs
run randread "$N" reads cold
selected traverse && run traverse "$(find "$D" 2>/dev/null | wc -l)" entries cold
run rename "$N" files
run delete "$N" files
# zerofsd's CPU profile while tar runs (the profile call returns after 20 s).
# Wait for that job only: rclone's mount is a background job too.
PROF_PID=""
[ "$MPORT" != 0 ] && selected tar && { "$BIN" guest scrape "http://$NFS_HOST:$MPORT/debug/pprof/profile?seconds=20" "$OUT/tar.pprof" 2>/dev/null & PROF_PID=$!; }
run tar "$TARFILES" files
[ -n "$PROF_PID" ] && wait "$PROF_PID"
run git "$TARFILES" files
run gobuild 1 builds
run fio-seqwrite "$FIOSIZE" bytes
run fio-seqread "$FIOSIZE" bytes cold
run fio-randwrite "$FIORAND" bytes
run fio-randread "$FIORAND" bytes cold
# Cold reads: each starts from a restart (see restart above).
selected cold-traverse && run cold-traverse "$(find "$D" 2>/dev/null | wc -l)" entries restart
run cold-seqread "$FIOSIZE" bytes restart
run cold-randread "$FIORAND" bytes restart
case "$TARGET" in s3fs|rclone) [ -z "$MOUNTFAIL" ] && unmount_fuse > /dev/null 2>&1 ;; esac
exit 0
