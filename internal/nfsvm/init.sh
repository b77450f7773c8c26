#!/bin/sh
# The guest's init (PID 1 of the initramfs, run by busybox). It loads the
# modules, mounts the host's root read-only over 9p as the new root with
# private memory file systems on PRIVATE_DIRS, configures the NIC, mounts the
# NFS export at /tmp/nfs, and runs the script with its output on the "out"
# serial port. It tells the host how far it got on the "ctl" port, one line
# each: "ready" (the script starts), "exit STATUS", or "error MESSAGE".
# Its inputs are in the "xfer" 9p share: config (sourced here: GUEST_ADDR,
# HOST_ADDR, PORT, EXPORT, MOUNT_OPTS, PRIVATE_DIRS), env (sourced by the
# script's shell) and script.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

ctl=/dev/null
fail() {
	echo "nfsvm init: $*"
	echo "error $*" >&3
	poweroff -f
}
exec 3>$ctl

for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || echo "nfsvm init: insmod $m failed"
done

# port NAME prints the device of the virtio serial port NAME, once it is there.
port() {
	i=0
	while [ $i -lt 100 ]; do
		for p in /sys/class/virtio-ports/*; do
			if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && [ -c "/dev/${p##*/}" ]; then
				echo "/dev/${p##*/}"
				return 0
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
ctl=$(port ctl) || fail "no ctl port"
exec 3>"$ctl"
out=$(port out) || fail "no out port"

p9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /xfer
mount -t 9p -o "$p9" xfer /xfer || fail "mounting the xfer share failed"
. /xfer/config

mount -t 9p -o "$p9,ro,cache=loose" hostroot /newroot || fail "mounting the host's root failed"
for d in $PRIVATE_DIRS; do
	mode=$(stat -c %a "/newroot$d") || fail "no $d in the host's root"
	mount -t tmpfs -o "mode=$mode" tmpfs "/newroot$d" || fail "mounting a tmpfs on $d failed"
done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -o bind /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mkdir -p /newroot/run/nfsvm /newroot/tmp/nfs
mount -o bind /xfer /newroot/run/nfsvm
mount -t 9p -o "$p9" out /newroot/run/nfsvm/out || fail "mounting the out share failed"

ip link set lo up
ip link set eth0 up || fail "no network device"
ip addr add "$GUEST_ADDR/24" dev eth0

if [ -n "$PORT" ]; then
	if ! chroot /newroot /bin/mount -t nfs -o "$MOUNT_OPTS" "$HOST_ADDR:$EXPORT" /tmp/nfs >/mount.log 2>&1; then
		fail "mount -t nfs -o $MOUNT_OPTS $HOST_ADDR:$EXPORT /tmp/nfs: $(cat /mount.log)"
	fi
fi

echo ready >&3
chroot /newroot /usr/bin/env -i /bin/sh -c '. /run/nfsvm/env && cd /tmp && exec /bin/sh /run/nfsvm/script.sh' \
	</dev/null >"$out" 2>&1 3>&-
rc=$?
sync
echo "exit $rc" >&3
poweroff -f
