#!/bin/sh
# prepare-host.sh: make this machine able to run crun. Idempotent.
#
# On a hybrid cgroup host (v1 controllers + cgroup2 at /sys/fs/cgroup/unified)
# any v1 controller that is not mounted stays attached to cgroup2. Debian
# bookworm kernels boot without a hugetlb v1 mount, so cgroup2 ends up with
# "hugetlb" and crun 1.8 refuses to run ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"). Mounting each such
# controller on its own v1 hierarchy empties cgroup2. runc does not need this.
set -eu

unified=/sys/fs/cgroup/unified
if [ ! -f "$unified/cgroup.controllers" ] || [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	echo "prepare-host: not a hybrid cgroup host; nothing to do"
	exit 0
fi
controllers=$(cat "$unified/cgroup.controllers")
if [ -z "$controllers" ]; then
	echo "prepare-host: cgroup2 at $unified has no controllers; nothing to do"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "prepare-host: cgroup2 holds controllers ($controllers); run as root to move them to v1" >&2
	exit 1
fi
for c in $controllers; do
	dir=/sys/fs/cgroup/$c
	mkdir -p "$dir"
	if ! mountpoint -q "$dir"; then
		mount -t cgroup -o "$c" cgroup "$dir"
		echo "prepare-host: mounted the $c controller on its own v1 hierarchy at $dir"
	fi
done
# The kernel detaches the controllers from cgroup2 shortly after the v1
# mount; wait (bounded) until it has.
i=0
while [ -n "$(cat "$unified/cgroup.controllers")" ]; do
	i=$((i + 1))
	if [ "$i" -gt 50 ]; then
		echo "prepare-host: cgroup2 still holds: $(cat "$unified/cgroup.controllers")" >&2
		exit 1
	fi
	sleep 0.1
done
echo "prepare-host: cgroup2 has no controllers now; crun can run"
