#!/usr/bin/env bash
# reliability.sh: `make reliability` — issue 15's scenarios against a
# private serve, one line each with its figures and PASS/FAIL
# (hack/reliability). Not part of `make test`. Needs root, kubectl and
# `make images`.
#   REL_SCENARIOS=a,b  run only these (crash-during-creation,
#                      restart-with-running-pods, churn, store-crash-safety,
#                      hostile-input, escape-probes, api-access)
#   REL_CRASHES=N      serve kills during pod creation (default 10)
#   REL_CHURN=N        create/delete cycles of the churn (default 1000)
#   REL_FUZZTIME=D     how long each fuzz target runs (default 10m)
set -euo pipefail
cd "$(dirname "$0")/.."

out=_output/reliability
mkdir -p "$out"
CGO_ENABLED=0 go build -o "$out/peapod" ./cmd/peapod # static, as make build
go build -o "$out/reliability" ./hack/reliability
# What serve keeps for its next start (bridge, table, cgroup roots) goes
# at the end, unless pods were left behind by a failure.
cleanup() {
	if [ -n "$(ls -A /run/peapod-reliability/sandboxes 2>/dev/null)" ]; then
		echo "reliability: pods are left under /run/peapod-reliability; their bridge and rules stay" >&2
		return
	fi
	ip link del peapodrel0 2>/dev/null || true
	nft delete table ip peapod_rel 2>/dev/null || true
	find /sys/fs/cgroup -depth -type d -path '*/peapod-reliability*' -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
"$out/reliability" -peapod "$out/peapod" -image _output/images/busybox -out "$out" \
	-scenarios "${REL_SCENARIOS:-}" -crashes "${REL_CRASHES:-10}" -churn "${REL_CHURN:-1000}" \
	-fuzztime "${REL_FUZZTIME:-10m}" "$@"
