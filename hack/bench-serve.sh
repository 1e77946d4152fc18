#!/usr/bin/env bash
# bench-serve.sh: `make bench-serve` — peapod serve driven by kubectl and
# client-go, every figure against issue 14's target (hack/benchserve).
# Not a test. Needs root, kubectl and `make images`.
#   BENCH_RUNS=N    cold starts, single-pod applies and deletes (default 10)
#   BENCH_PODS=N    pods in the bulk runs (default 100)
#   BENCH_CURVE=..  pod counts of the curve (default 1,10,100,300)
#   BENCH_EXEC=0    leave out the run of pods with 1 s exec probes (minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

out=_output/bench-serve
rm -rf "$out" && mkdir -p "$out"
# Build first so the compiler is not running during the measurements.
CGO_ENABLED=0 go build -o "$out/peapod" ./cmd/peapod # static, as make build
# Out of the page cache, so it maps its pages as after a reboot (see
# bench.sh).
sync "$out/peapod" && dd if="$out/peapod" iflag=nocache count=0 status=none
go build -o "$out/benchserve" ./hack/benchserve
# The bridge, nftables table and (empty) cgroup roots the runs make
# outlive serve (it leaves them to the next one); they go at the end, unless
# a failed run left pods behind.
cleanup() {
	if [ -n "$(ls -A /run/peapod-bench-serve/sandboxes 2>/dev/null)" ]; then
		echo "bench-serve: pods are left under /run/peapod-bench-serve; their bridge and rules stay" >&2
		return
	fi
	ip link del peapodbench0 2>/dev/null || true
	nft delete table ip peapod_bench 2>/dev/null || true
	find /sys/fs/cgroup -depth -type d -path '*/peapod-bench-serve*' -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
"$out/benchserve" -peapod "$out/peapod" -image _output/images/busybox -out "$out" \
	-runs "${BENCH_RUNS:-10}" -pods "${BENCH_PODS:-100}" -curve "${BENCH_CURVE:-1,10,100,300}" \
	-exec-probes="$([ "${BENCH_EXEC:-1}" = 0 ] && echo false || echo true)" "$@"
