#!/usr/bin/env bash
# bench.sh: `make bench` — peapod up vs podman kube play (with no network,
# and on a bridge network of its own) on the same busybox pods, side by
# side in one run (see hack/bench/main.go); then image pulls from a local
# registry, parallel vs serial layers. Needs root, the packages of
# hack/install-deps.sh and `make images`. Not a test.
#   BENCH_RUNS=N           measured runs per scenario and tool (default 15)
#   BENCH_PODMAN_SUBNET    podman's bridge network (default: a free 10.253.N.0/24)
set -euo pipefail
cd "$(dirname "$0")/.."

out=_output/bench
mkdir -p "$out"
# Build first so the compiler is not running during the measurements.
go build -o "$out/bench" ./hack/bench
# What the runs leave on the host goes at the end: peapod's bridge and
# table (its own, not peapod0), and netavark's global chains, which
# podman's network backend makes on first use and never removes (only if
# they were not there before: another podman may be using them).
netavark_before=$(iptables -t nat -S 2>/dev/null | grep -c NETAVARK || true)
cleanup() {
	ip link del peapodbench1 2>/dev/null || true
	nft delete table ip peapod_bench_up 2>/dev/null || true
	if [ "$netavark_before" = 0 ]; then
		iptables -D FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD 2>/dev/null || true
		iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null || true
		iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null || true
		iptables -t nat -D POSTROUTING -j NETAVARK-HOSTPORT-MASQ 2>/dev/null || true
		for c in NETAVARK-HOSTPORT-DNAT NETAVARK-HOSTPORT-MASQ NETAVARK-HOSTPORT-SETMARK; do
			iptables -t nat -F "$c" 2>/dev/null && iptables -t nat -X "$c" 2>/dev/null || true
		done
		iptables -F NETAVARK_FORWARD 2>/dev/null && iptables -X NETAVARK_FORWARD 2>/dev/null || true
	fi
	find /sys/fs/cgroup -depth -type d -path '*/peapod-bench' -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
# The binary's pages leave the page cache first, so every run maps them as
# after a reboot: how the file was last written (the linker writes through
# a shared mapping, cp with write(2)) changes how many pages a fault maps,
# and so the RSS and PSS read here by up to 11 MiB for the same binary.
sync bin/peapod && dd if=bin/peapod iflag=nocache count=0 status=none
"$out/bench" \
	-peapod bin/peapod \
	-root "${ROOT:-$PWD/_output/root}" \
	-run-root /run/peapod-bench \
	-pods hack/bench/pods \
	-image _output/images/busybox \
	-out "$out" "$@"
