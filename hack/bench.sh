#!/usr/bin/env bash
# bench.sh: `make bench` — peapod up vs podman kube play on the same busybox
# pods, side by side in one run (see hack/bench/main.go). Needs root, the
# packages of hack/install-deps.sh and `make images`. Not a test.
#   BENCH_RUNS=N           measured runs per scenario and tool (default 15)
#   BENCH_PODMAN_NETWORK   podman kube play --network (default none: peapod
#                          pods have loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."

out=_output/bench
mkdir -p "$out"
# Build first so the compiler is not running during the measurements.
go build -o "$out/bench" ./hack/bench
exec "$out/bench" \
	-peapod bin/peapod \
	-root "${ROOT:-$PWD/_output/root}" \
	-run-root /run/peapod-bench \
	-pods hack/bench/pods \
	-image _output/images/busybox \
	-out "$out" "$@"
