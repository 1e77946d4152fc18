#!/usr/bin/env bash
# conformance.sh: `make conformance` — the upstream e2e.test (v1.32.4,
# built once and cached under ~/.cache/peapod-conformance by
# hack/conformance/build.sh) against a fresh `peapod serve` with its own
# root, pod network and service range, the six test images loaded; prints
# "N passed, M failed, K skipped" for LIST and removes what it made.
#   LIST=file   the tests (default hack/conformance/pod-subset.txt)
#   PROCS=n     tests in parallel (default 4)
#   CLUSTER=1   against the upstream control plane of make test-cluster
#               (hack/cluster/build.sh) with `peapod agent` as its only
#               node, instead of serve: the difference between the two
#               counts is the API server's, not the node's
set -euo pipefail
cd "$(dirname "$0")/.."
conf=$PWD/hack/conformance
list=$(realpath "${LIST:-$conf/pod-subset.txt}")
out=$PWD/_output/conformance
cache=${CONFORMANCE_OUT:-$HOME/.cache/peapod-conformance}
mkdir -p "$out"
"$conf/build.sh" all
"$conf/images.sh"
CGO_ENABLED=0 go build -o "$out/peapod" ./cmd/peapod # static, as make build
runroot=/run/peapod-conformance
peapod=("$out/peapod" --root "$out/root" --run-root "$runroot" --cgroup-root peapod-conformance
	--pod-cidr 10.252.0.0/24 --bridge ppconf0 --nft-table peapod-conformance
	--service-cluster-ip-range 10.102.0.0/24)
for f in "$cache"/images/*.oci.tar; do
	"${peapod[@]}" image load "$f" >/dev/null
done
kc=$out/kubeconfig
serve_pid=
cluster_pid=
cleanup() {
	if [ -n "$serve_pid" ]; then
		# Gracefully, so that each pod is gone only once the node has
		# stopped it (serve leaves running pods behind when it stops);
		# what is still there after that is forced, and the node given
		# the time to remove its containers.
		KUBECONFIG=$kc kubectl delete pods --all -A --wait --timeout=180s >/dev/null 2>&1 ||
			KUBECONFIG=$kc kubectl delete pods --all -A --grace-period=0 --force --wait --timeout=60s >/dev/null 2>&1 || true
		for _ in $(seq 600); do
			[ -z "$(ls -A "$out/root/containers" 2>/dev/null)" ] && break
			sleep 0.1
		done
		kill -TERM "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
	fi
	if [ -n "$cluster_pid" ]; then
		kill -TERM "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
	fi
	ip link del ppconf0 2>/dev/null || true
	nft delete table ip peapod-conformance 2>/dev/null || true
	# The cgroup root serve made, now empty (rmdir leaves anything else).
	find /sys/fs/cgroup -depth -type d -path '*/peapod-conformance*' -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
if [ "${CLUSTER:-0}" = 1 ]; then
	hack/cluster/build.sh
	rm -rf "$out/cluster"
	go build -o "$out/kubecluster" ./hack/kubecluster
	"$out/kubecluster" -dir "$out/cluster" -service-cluster-ip-range 10.102.0.0/24 -node peapod-node >"$out/cluster.out" 2>&1 &
	cluster_pid=$!
	for _ in $(seq 1800); do
		grep -q '^ready$' "$out/cluster.out" 2>/dev/null && break
		kill -0 "$cluster_pid" 2>/dev/null || { cat "$out/cluster.out"; exit 1; }
		sleep 0.1
	done
	cp "$out/cluster/admin.kubeconfig" "$kc"
	"${peapod[@]}" agent --kubeconfig "$out/cluster/node-peapod-node.kubeconfig" --node-name peapod-node --image-pull never >"$out/serve.out" 2>"$out/serve.log" &
else
	"${peapod[@]}" serve --listen 127.0.0.1:0 --image-pull never --kubeconfig-out "$kc" >"$out/serve.out" 2>"$out/serve.log" &
fi
serve_pid=$!
for _ in $(seq 600); do
	grep -q '^peapod: ready$' "$out/serve.out" 2>/dev/null && break
	kill -0 "$serve_pid" 2>/dev/null || { cat "$out/serve.log"; exit 1; }
	sleep 0.1
done
if [ "${CLUSTER:-0}" = 1 ]; then
	# Schedulable once the node lifecycle controller saw it Ready and
	# took its not-ready taint away.
	KUBECONFIG=$kc kubectl wait --for=condition=Ready node/peapod-node --timeout=120s >/dev/null
	for _ in $(seq 1200); do
		[ -z "$(KUBECONFIG=$kc kubectl get node peapod-node -o jsonpath='{.spec.taints}')" ] && break
		sleep 0.1
	done
fi
KUBECONFIG=$kc PROCS=${PROCS:-4} REPORT_DIR=$out/report "$conf/run.sh" "$list"
