#!/usr/bin/env bash
# bench-cost.sh BEFORE AFTER: what a change costs, two peapod binaries
# measured in turns in the same run: file size, `peapod up` PSS with one
# running pod, serve's time from start to ready and its idle RSS (medians
# of RUNS, default 5). Not a test. Needs root and `make images`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BEFORE AFTER" >&2; exit 2; }
runs=${RUNS:-5}
out=_output/bench-cost
rm -rf "$out" && mkdir -p "$out"
# The bridge, nftables table and (empty) cgroup roots the runs make are
# removed however it ends.
cleanup() {
	ip link del peapodcost0 2>/dev/null || true
	nft delete table ip peapod-cost 2>/dev/null || true
	find /sys/fs/cgroup -depth -type d -path '*/peapod-cost-*' -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
cat >"$out/pod.yaml" <<'POD'
apiVersion: v1
kind: Pod
metadata: {name: cost}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox:1.36, command: [sh, -c, 'trap "exit 0" TERM; echo up; while true; do sleep 1; done']}
POD
flags() { # $1: label
	echo --root "$PWD/$out/root-$1" --run-root "/run/peapod-cost-$1" --cgroup-root "peapod-cost-$1" \
		--pod-cidr 10.253.0.0/24 --bridge peapodcost0 --nft-table peapod-cost
}
for label in before after; do
	bin=$1; [ $label = after ] && bin=$2
	cp "$bin" "$out/peapod-$label"
	# Out of the page cache, so both map their pages as after a reboot
	# (see bench.sh).
	sync "$out/peapod-$label" && dd if="$out/peapod-$label" iflag=nocache count=0 status=none
	# shellcheck disable=SC2046
	"$out/peapod-$label" $(flags $label) image load _output/images/busybox >/dev/null
	# shellcheck disable=SC2046
	"$out/peapod-$label" $(flags $label) image tag busybox busybox:1.36
done

up_pss() { # $1 label: PSS (MiB) of `peapod up` once its pod runs
	local pid
	# shellcheck disable=SC2046
	"$out/peapod-$1" $(flags "$1") up -f "$out/pod.yaml" --image-pull=never >"$out/up.out" 2>&1 &
	pid=$!
	for _ in $(seq 300); do grep -q 'up$' "$out/up.out" 2>/dev/null && break; sleep 0.1; done
	awk '/^Pss:/ {printf "%.1f\n", $2/1024}' "/proc/$pid/smaps_rollup"
	kill -INT "$pid"; wait "$pid" || true
}
serve_once() { # $1 label: prints "start_seconds rss_mib"
	local fifo=$out/serve.fifo t0 t1 pid
	rm -f "$fifo" && mkfifo "$fifo"
	t0=$(now)
	# shellcheck disable=SC2046
	"$out/peapod-$1" $(flags "$1") serve --listen 127.0.0.1:0 --kubeconfig-out "$out/kubeconfig" >"$fifo" 2>>"$out/serve.log" &
	pid=$!
	exec 3<"$fifo"
	while IFS= read -r line <&3; do [ "$line" = "peapod: ready" ] && break; done
	t1=$(now)
	cat <&3 >/dev/null &
	exec 3<&-
	sleep 5 # settle before a memory reading (not synchronisation)
	echo "$(echo "$t1 - $t0" | bc) $(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")"
	kill -TERM "$pid"; wait "$pid" || true
}
for i in $(seq "$runs"); do
	for label in before after; do
		up_pss $label >>"$out/up-$label.txt"
		serve_once $label >>"$out/serve-$label.txt"
	done
done
report() { # name unit before-file after-file column
	local b a
	b=$(awk -v c="$5" '{print $c}' "$3" | median); a=$(awk -v c="$5" '{print $c}' "$4" | median)
	printf '%-22s before %8s %s  after %8s %s  ratio %.2f\n' "$1" "$b" "$2" "$a" "$2" "$(echo "$a / $b" | bc -l)"
}
printf '%-22s before %8s B  after %8s B  ratio %.2f\n' "binary size" "$(stat -c %s "$1")" "$(stat -c %s "$2")" "$(echo "$(stat -c %s "$2") / $(stat -c %s "$1")" | bc -l)"
report "up PSS (one pod)" MiB "$out/up-before.txt" "$out/up-after.txt" 1
report "serve start to ready" s "$out/serve-before.txt" "$out/serve-after.txt" 1
report "serve idle RSS" MiB "$out/serve-before.txt" "$out/serve-after.txt" 2
