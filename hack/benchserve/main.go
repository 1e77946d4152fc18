// Command benchserve measures `peapod serve` driven by the real kubectl and
// by client-go: cold start, idle memory, one pod from apply to Ready, a
// delete with grace 0, 100 pods at once (plain; with an init container, a
// native sidecar and an httpGet readiness probe; with 1 s exec probes and
// the CPU they cost at steady state), 100 deleted at once, and the curve
// of time and memory against the pod count. Every figure is printed with
// its target (issue 14) and PASS or MISS, and a CPU profile of serve during
// the heaviest run is printed as pprof's top. hack/bench-serve.sh builds
// and runs it (`make bench-serve`); it is not a test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/hack/servenode"
)

var (
	peapodBin    = flag.String("peapod", "bin/peapod", "peapod binary")
	image        = flag.String("image", "_output/images/busybox", "busybox OCI layout")
	outDir       = flag.String("out", "_output/bench-serve", "private root, kubeconfig, logs and profiles")
	runRoot      = flag.String("run-root", "/run/peapod-bench-serve", "peapod --run-root")
	podCIDR      = flag.String("pod-cidr", "10.254.0.0/22", "pod network (room for the curve's largest count)")
	curveFlag    = flag.String("curve", "1,10,100,300", "pod counts of the curve")
	runs         = flag.Int("runs", 10, "cold starts, single-pod runs and deletes")
	bulk         = flag.Int("pods", 100, "pods in the bulk runs")
	steady       = flag.Duration("steady", 10*time.Second, "how long serve's CPU is read with the exec-probed pods Ready")
	withExec     = flag.Bool("exec-probes", true, "run the bulk pods with 1 s exec probes too")
	readyTimeout = flag.Duration("ready-timeout", 3*time.Minute, "how long a bulk run waits for its pods to be Ready")
)

// Targets of issue 14.
const (
	targetIdleMiB      = 30.0
	targetBulkMiB      = 60.0
	targetBulkReady    = 6 * time.Second
	targetProbeCPU     = 0.5 // of one core, at steady state
	targetProbeBringUp = 4.0 // CPU seconds of serve for the exec-probed pods to come up
	targetDeleteMS     = 40.0
	targetBulkDelete   = 5 * time.Second
)

func main() {
	flag.Parse()
	for _, p := range []*string{peapodBin, image, outDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fatal(err)
		}
		*p = abs
	}
	var curve []int
	for _, f := range strings.Split(*curveFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-curve %q: want positive counts", *curveFlag))
		}
		curve = append(curve, n)
	}
	maxPods := max(slices.Max(curve), *bulk) + 10
	b := &bench{maxPods: maxPods, Node: &servenode.Node{
		Bin: *peapodBin, Out: *outDir, RunRoot: *runRoot, CgroupRoot: "peapod-bench-serve",
		PodCIDR: *podCIDR, Bridge: "peapodbench0", NFTable: "peapod_bench",
		ServeArgs: []string{"--max-pods", strconv.Itoa(maxPods)},
	}}
	defer b.cleanup()
	if err := b.run(curve); err != nil {
		b.cleanup()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench-serve: %v\n", err)
	os.Exit(1)
}

type bench struct {
	*servenode.Node
	maxPods  int
	verdicts []string
}

func (b *bench) run(curve []int) error {
	t0 := time.Now()
	fmt.Printf("peapod bench-serve: %d CPUs, load average %s; serve --max-pods %d, pods on %s\n", goruntime.NumCPU(), loadavg(), b.maxPods, *podCIDR)
	for _, args := range [][]string{{"image", "load", *image}, {"image", "tag", "busybox", "busybox:1.36"}} {
		if out, err := b.Peapod(args...).CombinedOutput(); err != nil {
			return fmt.Errorf("peapod %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}

	var starts []float64
	for range *runs {
		d, err := b.Start()
		if err != nil {
			return err
		}
		starts = append(starts, d.Seconds())
		if err := b.Stop(syscall.SIGTERM); err != nil {
			return err
		}
	}
	fmt.Printf("\nserve cold start to ready: median %.3f s (min %.3f, max %.3f, %d starts)\n", median(starts), slices.Min(starts), slices.Max(starts), len(starts))

	if _, err := b.Start(); err != nil {
		return err
	}
	if err := b.Connect(); err != nil {
		return err
	}
	time.Sleep(5 * time.Second) // a memory reading of a settled process, not synchronisation
	idle := servenode.RSSMiB(b.Serve.Process.Pid)
	// The binary's own pages are most of it; they count as file, shared
	// with the page cache. The anonymous part is heap and stacks.
	b.verdict(idle <= targetIdleMiB, fmt.Sprintf("serve idle RSS, no pods ≤ %.0f MiB", targetIdleMiB),
		fmt.Sprintf("%.1f MiB (anonymous %.1f MiB)", idle, servenode.AnonMiB(b.Serve.Process.Pid)))

	// One pod: kubectl apply until Ready, then a delete with grace 0 until
	// the node has removed everything of it.
	var applies, deletes []float64
	for i := range *runs {
		file := b.write("one.yaml", pods("one", 1, plain))
		t := time.Now()
		if out, err := b.Kubectl("apply", "-f", file).CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl apply: %w: %s", err, out)
		}
		if err := b.WaitReady("one-", 1, time.Minute); err != nil {
			return err
		}
		applies = append(applies, ms(time.Since(t)))
		d, err := b.deleteNow("one-0")
		if err != nil {
			return fmt.Errorf("delete %d: %w", i, err)
		}
		deletes = append(deletes, ms(d))
	}
	fmt.Printf("kubectl apply → Ready, one pod: median %.1f ms (min %.1f, max %.1f)\n", median(applies), slices.Min(applies), slices.Max(applies))
	b.verdict(median(deletes) <= targetDeleteMS, fmt.Sprintf("delete pod grace 0 → API object and every container, mount and sandbox gone, median ≤ %.0f ms", targetDeleteMS),
		fmt.Sprintf("%.1f ms (min %.1f, max %.1f)", median(deletes), slices.Min(deletes), slices.Max(deletes)))

	// 100 pods at once, three kinds.
	for _, k := range []kind{plain, sidecarHTTP} {
		r, err := b.bulkRun(k, *bulk, k == sidecarHTTP)
		if err != nil {
			return err
		}
		b.verdict(r.notReady == nil && r.ready <= targetBulkReady, fmt.Sprintf("%d pods (%s) applied at once → all Ready ≤ %v", *bulk, k, targetBulkReady),
			r.readyText())
		if k == plain {
			b.verdict(r.rss <= targetBulkMiB, fmt.Sprintf("serve RSS with %d pods ≤ %.0f MiB", *bulk, targetBulkMiB), fmt.Sprintf("%.1f MiB (anonymous %.1f MiB)", r.rss, r.anon))
		}
		b.verdict(r.deleted <= targetBulkDelete, fmt.Sprintf("%d pods (%s) deleted at once → all gone ≤ %v", *bulk, k, targetBulkDelete), fmt.Sprintf("%.2f s", r.deleted.Seconds()))
	}
	if !*withExec {
		fmt.Println("(the exec-probe run is left out: -exec-probes=false)")
	} else if err := b.execProbeRun(); err != nil {
		return err
	}
	return b.curveRun(curve, t0)
}

// execProbeRun runs the bulk pods with 1 s exec readiness probes.
func (b *bench) execProbeRun() error {
	r, err := b.bulkRun(execProbe, *bulk, false)
	if err != nil {
		return err
	}
	b.verdict(r.notReady == nil && r.ready <= targetBulkReady, fmt.Sprintf("%d pods (%s) → all Ready ≤ %v", *bulk, execProbe, targetBulkReady), r.readyText())
	b.verdict(r.notReady == nil && r.cpu <= targetProbeBringUp, fmt.Sprintf("serve CPU for them until Ready ≤ %.0f s", targetProbeBringUp), fmt.Sprintf("%.2f s", r.cpu))
	b.verdict(r.notReady == nil && r.steady <= targetProbeCPU, fmt.Sprintf("serve CPU at steady state with their probes ≤ %.0f %% of one core", 100*targetProbeCPU),
		fmt.Sprintf("%.1f %% over %v", 100*r.steady, *steady))
	return nil
}

// curveRun measures plain pods at each count of curve and prints the
// verdicts.
func (b *bench) curveRun(curve []int, t0 time.Time) error {
	fmt.Printf("\ncurve: %-6s %10s %12s %10s %12s %10s\n", "pods", "Ready (s)", "ms per pod", "RSS (MiB)", "serve CPU s", "delete (s)")
	var points []result
	for _, n := range curve {
		r, err := b.bulkRun(plain, n, false)
		if err != nil {
			return err
		}
		points = append(points, r)
		fmt.Printf("       %-6d %10.2f %12.1f %10.1f %12.2f %10.2f\n", n, r.ready.Seconds(), ms(r.ready)/float64(n), r.rss, r.cpu, r.deleted.Seconds())
	}
	fmt.Println("       " + linearity(curve, points))

	fmt.Println("\ntargets")
	for _, v := range b.verdicts {
		fmt.Println(v)
	}
	fmt.Printf("\nbench-serve took %.0f s; load average at the end %s\n", time.Since(t0).Seconds(), loadavg())
	return nil
}

// linearity says whether time and RSS grow linearly with the pod count,
// from the per-pod cost between the two largest counts against the one
// between the two smallest above 1.
func linearity(ns []int, rs []result) string {
	if len(ns) < 3 {
		return "(too few points to judge growth)"
	}
	slope := func(i, j int) (t, m float64) {
		dn := float64(ns[j] - ns[i])
		return (rs[j].ready - rs[i].ready).Seconds() / dn * 1000, (rs[j].rss - rs[i].rss) / dn
	}
	lt, lm := slope(len(ns)-2, len(ns)-1)
	ft, fm := slope(len(ns)-3, len(ns)-2)
	shape := "linear"
	if lt > 1.5*ft {
		shape = "super-linear"
	}
	return fmt.Sprintf("growth: %.1f ms and %.2f MiB per added pod between %d and %d pods, %.1f ms and %.2f MiB between %d and %d: time is %s",
		ft, fm, ns[len(ns)-3], ns[len(ns)-2], lt, lm, ns[len(ns)-2], ns[len(ns)-1], shape)
}

func (b *bench) verdict(ok bool, what, got string) {
	v := "MISS"
	if ok {
		v = "PASS"
	}
	line := fmt.Sprintf("  %s  %s: %s", v, what, got)
	fmt.Println(line)
	b.verdicts = append(b.verdicts, line)
}

// ---- serve ----

func (b *bench) cleanup() {
	if b.Serve != nil && b.Client != nil {
		_ = b.DeleteAll(2 * time.Minute)
	}
	_ = b.Stop(syscall.SIGTERM)
}

// write writes a file under the output directory or ends the bench.
func (b *bench) write(name, content string) string {
	p, err := b.Write(name, content)
	if err != nil {
		fatal(err)
	}
	return p
}

// deleteNow deletes a pod with grace 0 and waits until the API no longer
// has it and the node has removed its directory, the last step of its
// teardown (containers, network, sandbox and volumes go first).
func (b *bench) deleteNow(name string) (time.Duration, error) {
	p, err := b.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	dir := filepath.Join(b.Root(), "pods", string(p.UID))
	zero := int64(0)
	t := time.Now()
	if err := b.Client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return 0, err
	}
	deadline := t.Add(time.Minute)
	for {
		_, inAPI, _ := b.Pods.GetByKey("default/" + name)
		_, err := os.Stat(dir)
		if !inAPI && errors.Is(err, os.ErrNotExist) {
			return time.Since(t), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("pod %s: in the API %v, directory %v a minute after its delete", name, inAPI, err)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	// notReady says how many pods were not Ready when the wait gave up.
	notReady       error
	ready, deleted time.Duration
	cpu            float64 // serve's CPU seconds from apply to all Ready
	steady         float64 // serve's CPU share of one core once Ready
	rss, anon      float64 // serve's RSS and its anonymous part in MiB once Ready
	// busy and total are the machine's CPU seconds, busy and all, from
	// apply to all Ready; ours is this bench's own and kubectl's.
	busy, total, ours float64
}

func (r result) readyText() string {
	if r.notReady != nil {
		return fmt.Sprintf("%v (serve CPU %.2f s)", r.notReady, r.cpu)
	}
	return fmt.Sprintf("%.2f s, serve CPU %.2f s", r.ready.Seconds(), r.cpu)
}

// bulkRun applies n pods of kind k in one kubectl apply, waits for all to
// be Ready, reads serve, then deletes them all at once. With profile, a
// CPU profile of serve covers the bring-up and pprof's top is printed.
func (b *bench) bulkRun(k kind, n int, profile bool) (result, error) {
	var r result
	file := b.write(fmt.Sprintf("%s-%d.yaml", k, n), pods(string(k), n, k))
	pid := b.Serve.Process.Pid
	var prof sync.WaitGroup
	profFile := filepath.Join(*outDir, fmt.Sprintf("serve-%s-%d.pprof", k, n))
	if profile {
		prof.Add(1)
		go func() {
			defer prof.Done()
			b.profile(profFile, 8)
		}()
	}
	c0, t := cpuSeconds(pid), time.Now()
	busy0, total0 := machineCPU()
	self0 := cpuSeconds(os.Getpid())
	apply := b.Kubectl("apply", "-f", file)
	if out, err := apply.CombinedOutput(); err != nil {
		return r, fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	if err := b.WaitReady(string(k)+"-", n, *readyTimeout); errors.Is(err, servenode.ErrNotReady) {
		r.notReady = err // measured as it is: the rest goes on
	} else if err != nil {
		return r, err
	}
	r.ready, r.cpu = time.Since(t), cpuSeconds(pid)-c0
	busy1, total1 := machineCPU()
	r.busy, r.total = busy1-busy0, total1-total0
	r.ours = cpuSeconds(os.Getpid()) - self0 + (apply.ProcessState.UserTime() + apply.ProcessState.SystemTime()).Seconds()
	prof.Wait()
	if k == execProbe {
		c1, t1 := cpuSeconds(pid), time.Now()
		time.Sleep(*steady) // a CPU reading over a window, not synchronisation
		r.steady = (cpuSeconds(pid) - c1) / time.Since(t1).Seconds()
	} else {
		time.Sleep(2 * time.Second) // a memory reading of a settled process
	}
	r.rss, r.anon = servenode.RSSMiB(pid), servenode.AnonMiB(pid)
	t = time.Now()
	if err := b.DeleteAll(5 * time.Minute); err != nil {
		return r, err
	}
	r.deleted = time.Since(t)
	state := "all Ready"
	if r.notReady != nil {
		state = r.notReady.Error()
	}
	fmt.Printf("%d pods (%s): %s in %.2f s (serve CPU %.2f s), RSS %.1f MiB, all gone %.2f s after their delete\n",
		n, k, state, r.ready.Seconds(), r.cpu, r.rss, r.deleted.Seconds())
	// Where the machine's CPU went until all were Ready: a run that keeps
	// every core busy is bound by the work per pod, not by waiting.
	if r.total > 0 {
		perPod := func(s float64) float64 { return s * 1000 / float64(n) }
		fmt.Printf("  machine: %.1f of %.1f core-s busy (%.0f %%); per pod %.0f core-ms: serve %.0f, kubectl and this bench %.0f, the rest %.0f (crun, conmon, CNI plugins, the containers)\n",
			r.busy, r.total, 100*r.busy/r.total, perPod(r.busy), perPod(r.cpu), perPod(r.ours), perPod(r.busy-r.cpu-r.ours))
	}
	if profile {
		top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=20", *peapodBin, profFile).CombinedOutput()
		if err != nil {
			fmt.Printf("pprof: %v: %s\n", err, top)
		} else {
			fmt.Printf("serve CPU profile of the first 8 s (%s; go tool pprof -top):\n%s\n", profFile, indent(string(top)))
		}
	}
	return r, nil
}

// profile fetches seconds of serve's CPU profile from /debug/pprof.
func (b *bench) profile(file string, seconds int) {
	body, err := b.Client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
		Param("seconds", strconv.Itoa(seconds)).Timeout(time.Duration(seconds+30) * time.Second).DoRaw(context.Background())
	if err == nil {
		err = os.WriteFile(file, body, 0o644)
	}
	if err != nil {
		fmt.Printf("profile: %v\n", err)
	}
}

func indent(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, "    "+l)
	}
	return strings.Join(out, "\n")
}
