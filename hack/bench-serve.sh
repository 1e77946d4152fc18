#!/usr/bin/env bash
# bench-serve.sh: `make bench-serve` — peapod serve driven by the real
# kubectl: cold start until the API is ready (median of N starts), apply to
# Ready of a one-container pod (median of N), 100 pods applied at once to
# all Ready (one run: wall time and CPU), and the idle RSS of serve with no
# pods and with 100 (plus the PSS of their conmons). Not a test. Needs
# root, kubectl and `make images` (the busybox image in _output/images).
#   BENCH_RUNS=N   starts and single-pod runs (default 10)
#   BENCH_PODS=N   pods in the bulk run (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-10}
npods=${BENCH_PODS:-100}
out=_output/bench-serve
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/peapod" ./cmd/peapod
root=$PWD/$out/root
runroot=/run/peapod-bench-serve
kc=$PWD/$out/kubeconfig
peapod=("$PWD/$out/peapod" --root "$root" --run-root "$runroot" --cgroup-root peapod-bench-serve
	--pod-cidr 10.254.0.0/24 --bridge peapodbench0)
k() { kubectl --kubeconfig "$kc" "$@"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

"${peapod[@]}" image load _output/images/busybox >/dev/null
"${peapod[@]}" image tag busybox busybox:1.36

serve_pid=
start_serve() {
	local fifo=$out/serve.out
	rm -f "$fifo" && mkfifo "$fifo"
	"${peapod[@]}" serve --listen 127.0.0.1:0 --kubeconfig-out "$kc" >"$fifo" 2>>"$out/serve.log" &
	serve_pid=$!
	exec 3<"$fifo"
	while IFS= read -r line <&3; do
		[ "$line" = "peapod: ready" ] && break
	done
	# Keep draining serve's stdout so it never blocks.
	cat <&3 >>"$out/serve.stdout" &
	exec 3<&-
}
stop_serve() {
	kill -TERM "$serve_pid"
	wait "$serve_pid" || true
}
cleanup() {
	if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
		k delete pods --all --now --wait --timeout=120s >/dev/null 2>&1 || true
		stop_serve
	fi
}
trap cleanup EXIT
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
conmon_pss_mb() {
	local sum=0 n=0 pid
	for pid in $(pgrep -x conmon); do
		grep -q "$runroot" "/proc/$pid/cmdline" 2>/dev/null || continue
		sum=$((sum + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")))
		n=$((n + 1))
	done
	echo "$n conmons, PSS $(awk -v s="$sum" 'BEGIN {printf "%.1f", s/1024}') MiB total"
}

pod() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox:1.36, command: [sleep, "3600"]}
---
EOF
}

echo "== cold start until ready ($runs starts)"
: >"$out/start.txt"
for i in $(seq "$runs"); do
	t0=$(now)
	start_serve
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$out/start.txt"
	stop_serve
done
echo "serve start to ready: median $(median <"$out/start.txt") s"

start_serve
sleep 5 # settle (not synchronisation: a memory reading)
echo "serve idle RSS, no pods: $(rss_mb "$serve_pid") MiB"

echo "== apply -> Ready, one pod ($runs runs)"
pod b >"$out/one.yaml"
: >"$out/one.txt"
for i in $(seq "$runs"); do
	t0=$(now)
	k apply -f "$out/one.yaml" >/dev/null
	k wait --for=condition=Ready pod/b --timeout=60s >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$out/one.txt"
	k delete pod b --now --wait --timeout=60s >/dev/null
done
echo "apply to Ready: median $(median <"$out/one.txt") s"

echo "== $npods pods at once"
for i in $(seq "$npods"); do pod "p$i"; done >"$out/many.yaml"
ticks=$(getconf CLK_TCK)
c0=$(cpu_ticks "$serve_pid")
read -r _ u n s idle iow irq sirq _ <<<"$(head -1 /proc/stat)"
busy0=$((u + n + s + irq + sirq))
t0=$(now)
k apply -f "$out/many.yaml" >/dev/null
k wait --for=condition=Ready pods --all --timeout=600s >/dev/null
t1=$(now)
c1=$(cpu_ticks "$serve_pid")
read -r _ u n s idle iow irq sirq _ <<<"$(head -1 /proc/stat)"
busy1=$((u + n + s + irq + sirq))
echo "$npods pods to all Ready: $(echo "$t1 - $t0" | bc) s; serve CPU $(echo "scale=2; ($c1 - $c0) / $ticks" | bc) s; whole machine busy CPU $(echo "scale=2; ($busy1 - $busy0) / $ticks" | bc) s"
sleep 10 # settle
echo "serve idle RSS, $npods pods: $(rss_mb "$serve_pid") MiB; $(conmon_pss_mb)"
k delete pods --all --now --wait --timeout=300s >/dev/null
stop_serve
serve_pid=
