// Command bench compares `peapod up` with `podman kube play` on the same
// busybox pods, in one run, interleaved run by run: time until every
// container is running, time to stop, and the idle memory each tool keeps
// per container. podman plays each pod twice, with no network and on a
// bridge network of its own (peapod's pods are on its bridge, so the second
// is the fair peer). hack/bench.sh builds and runs it (`make bench`); it is
// not a test. Flags name the paths; BENCH_RUNS sets the number of measured
// runs.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A scenario is one pod manifest under hack/bench/pods.
type scenario struct {
	title string
	file  string // absolute path of the manifest
	pod   string // metadata.name
	// running are the containers that run once the pod is up (and Ready:
	// none has a probe); peapod's memory reading finds a conmon for each.
	running []string
	// noPodman says why podman does not play this pod, if it does not.
	noPodman string
}

// Targets.
const (
	targetStartMS   = 40.0
	targetSidecarMS = 90.0
	targetSpeedup   = 8.0
	targetIdleMiB   = 2.5
	targetUpPSSMiB  = 20.0
	settle          = 200 * time.Millisecond // between measurements
	startTimeout    = 60 * time.Second
	stopTimeout     = 60 * time.Second
	memSettleDelay  = 2 * time.Second // let the pod go idle before reading memory
	// hold keeps the pod running a moment before the stop: a container
	// stopped before its shell has set the TERM trap ignores SIGTERM (it is
	// PID 1) and waits out the grace period.
	hold = 200 * time.Millisecond
)

var (
	peapodBin = flag.String("peapod", "bin/peapod", "peapod binary")
	root      = flag.String("root", "_output/root", "peapod --root (holds the busybox image)")
	runRoot   = flag.String("run-root", "/run/peapod-bench", "peapod --run-root")
	podsDir   = flag.String("pods", "hack/bench/pods", "directory of the pod manifests")
	layout    = flag.String("image", "_output/images/busybox", "busybox OCI layout, imported into podman's store")
	outDir    = flag.String("out", "_output/bench", "podman's private configuration and storage")
	subnet    = flag.String("podman-subnet", envOr("BENCH_PODMAN_SUBNET", ""),
		"subnet of podman's bridge network (default: the first free 10.253.N.0/24)")
)

// The tools compared: peapod, and podman kube play with no network and on
// a bridge network.
const (
	peapod       = "peapod"
	podmanNone   = "podman --network none"
	podmanBridge = "podman --network bridge"
	bridgeName   = "peapod-bench"
)

var tools = []string{peapod, podmanNone, podmanBridge}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	flag.Parse()
	runs := 15
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fatal(fmt.Errorf("BENCH_RUNS=%q: want a positive number", v))
		}
		runs = n
	}
	for _, p := range []*string{peapodBin, root, podsDir, layout, outDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fatal(err)
		}
		*p = abs
	}
	scenarios := []scenario{
		{title: "1-container pod", file: filepath.Join(*podsDir, "one.yaml"), pod: "bench-one", running: []string{"c1"}},
		{title: "3-container pod", file: filepath.Join(*podsDir, "three.yaml"), pod: "bench-three", running: []string{"c1", "c2", "c3"}},
		{title: "init + native sidecar + main", file: filepath.Join(*podsDir, "sidecar.yaml"), pod: "bench-sidecar", running: []string{"sidecar", "main"},
			noPodman: "podman 4 has no native sidecars (an init container's restartPolicy)"},
	}

	// Clean up on Ctrl-C too. The children run in their own process groups,
	// so only this process gets the terminal's signal and stops them once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v, cleaning up\n", s)
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()

	start := time.Now()
	fmt.Printf("peapod bench: %d runs (+1 warm-up) per scenario and tool, interleaved; %d CPUs; load average %s\n",
		runs, runtime.NumCPU(), loadavg())
	if err := setupPodman(); err != nil {
		podmanErr = err
		fmt.Printf("podman: CANNOT RUN HERE: %v\n", err)
	}
	fmt.Printf("peapod: %s up --image-pull=never (pods on peapod's bridge); podman: kube play --network none, and --network %s (a bridge on %s); crun, cgroupfs, private store and containers.conf under %s\n",
		*peapodBin, bridgeName, *subnet, *outDir)

	type series struct{ start, stop []float64 }
	results := map[string]*series{}
	key := func(tool string, s scenario) string { return tool + "/" + s.pod }
	for _, s := range scenarios {
		for _, t := range tools {
			results[key(t, s)] = &series{}
		}
	}
	fmt.Print("runs: ")
	for i := 0; i <= runs; i++ { // run 0 is the warm-up
		for _, s := range scenarios {
			up, down, err := peapodRun(s, nil)
			if err != nil {
				fmt.Println()
				fatal(fmt.Errorf("peapod, %s: %w", s.title, err))
			}
			if i > 0 {
				r := results[key(peapod, s)]
				r.start, r.stop = append(r.start, ms(up)), append(r.stop, ms(down))
			}
			time.Sleep(settle)
			for _, tool := range tools[1:] {
				if podmanErr != nil || s.noPodman != "" {
					continue
				}
				up, down, err = podmanRun(s, tool, nil)
				if err != nil {
					podmanErr = fmt.Errorf("%s, %s, run %d: %w", tool, s.title, i, err)
					fmt.Printf("\npodman: FAILED, continuing with peapod only: %v\n", podmanErr)
					continue
				}
				if i > 0 {
					r := results[key(tool, s)]
					r.start, r.stop = append(r.start, ms(up)), append(r.stop, ms(down))
				}
				time.Sleep(settle)
			}
		}
		if i == 0 {
			fmt.Print("w ")
		} else {
			fmt.Printf("%d ", i)
		}
	}
	fmt.Println()

	// Idle memory with the 3-container pod running under each tool.
	three := scenarios[1]
	var memPeapod, memPodman *memory
	if _, _, err := peapodRun(three, func(pid int) error {
		m, err := peapodMemory(pid)
		memPeapod = m
		return err
	}); err != nil {
		fatal(fmt.Errorf("peapod, memory: %w", err))
	}
	time.Sleep(settle)
	if podmanErr == nil {
		if _, _, err := podmanRun(three, podmanBridge, func() error {
			m, err := podmanMemory(three)
			memPodman = m
			return err
		}); err != nil {
			podmanErr = fmt.Errorf("memory: %w", err)
		}
	}

	// Report.
	fmt.Printf("\n%-40s %-24s %4s %9s %9s %9s\n", "time (ms)", "tool", "runs", "median", "min", "max")
	medians := map[string]float64{}
	for _, phase := range []string{"start", "stop"} {
		for _, s := range scenarios {
			label := s.title + ", exec → all Running"
			if phase == "stop" {
				label = s.title + ", stop"
			}
			for _, tool := range tools {
				r := results[key(tool, s)]
				xs := r.start
				if phase == "stop" {
					xs = r.stop
				}
				if len(xs) == 0 {
					why := "n/a"
					if tool != peapod && s.noPodman != "" {
						why = "n/a: " + s.noPodman
					}
					fmt.Printf("%-40s %-24s %4d %9s\n", label, tool, 0, why)
					continue
				}
				med, lo, hi := stats(xs)
				medians[phase+"/"+key(tool, s)] = med
				fmt.Printf("%-40s %-24s %4d %9.1f %9.1f %9.1f\n", label, tool, len(xs), med, lo, hi)
			}
			for _, tool := range tools[1:] {
				if a, b := medians[phase+"/"+key(peapod, s)], medians[phase+"/"+key(tool, s)]; a > 0 && b > 0 {
					fmt.Printf("%-40s %-24s %4s %8.1f×\n", "", strings.TrimPrefix(tool, "podman ")+": podman/peapod", "", b/a)
				}
			}
		}
	}
	fmt.Println("  start: peapod from exec to the last `NAME: Running` on its stderr; podman: `kube play` until it returns.")
	fmt.Println("  stop:  peapod from SIGINT until it exits; podman: `kube down`.")

	fmt.Printf("\nidle memory, 3-container pod (MiB; PSS from /proc/PID/smaps_rollup)\n")
	for _, m := range []*memory{memPeapod, memPodman} {
		if m == nil {
			continue
		}
		for _, p := range m.procs {
			fmt.Printf("  %-7s %-34s PSS %6.2f (anon %5.2f)  RSS %6.2f\n", m.tool, p.what, kib(p.pss), kib(p.anon), kib(p.rss))
		}
		n := float64(m.containers)
		fmt.Printf("  %-7s %-34s PSS %6.2f (anon %5.2f)  RSS %6.2f\n", m.tool, fmt.Sprintf("per container (total / %d)", m.containers),
			kib(m.pss())/n, kib(m.anon())/n, kib(m.rss())/n)
	}
	if memPodman != nil {
		fmt.Println("  (podman keeps no process of its own after play returns; its pod also runs an infra container,")
		fmt.Println("   whose conmon is counted above, and the infra's catatonit, which is not.)")
	}
	if podmanErr != nil {
		fmt.Printf("\npodman: not compared: %v\n", podmanErr)
	}

	fmt.Printf("\nimage pull, %d layers of %d MiB from docker-registry on 127.0.0.1 into an empty store (s)\n", pullLayers, pullLayerBytes>>20)
	serial, parallel, pullErr := benchPulls(runs)
	if pullErr == nil {
		for _, p := range []struct {
			what string
			xs   []float64
		}{{"--max-concurrent-downloads=1", serial}, {"--max-concurrent-downloads=3 (default)", parallel}} {
			med, lo, hi := stats(p.xs)
			fmt.Printf("  %-40s %4d runs  median %6.3f  min %6.3f  max %6.3f\n", p.what, len(p.xs), med, lo, hi)
		}
	} else {
		fmt.Printf("  not measured: %v\n", pullErr)
	}

	fmt.Println("\ntargets")
	one := scenarios[0]
	med := medians["start/"+key(peapod, one)]
	verdict(med <= targetStartMS, fmt.Sprintf("1-container pod running, median ≤ %.0f ms", targetStartMS), fmt.Sprintf("%.1f ms", med))
	if pm := medians["start/"+key(podmanBridge, one)]; pm > 0 {
		verdict(pm/med >= targetSpeedup, fmt.Sprintf("1-container pod ≥ %.0f× faster than podman on a bridge network", targetSpeedup), fmt.Sprintf("%.1f×", pm/med))
	} else {
		fmt.Printf("  MISS  1-container pod ≥ %.0f× faster than podman on a bridge network: podman did not run\n", targetSpeedup)
	}
	sc := medians["start/"+key(peapod, scenarios[2])]
	verdict(sc <= targetSidecarMS, fmt.Sprintf("init + native sidecar + main until Ready, median ≤ %.0f ms", targetSidecarMS), fmt.Sprintf("%.1f ms", sc))
	upPSS := kib(memPeapod.procs[0].pss)
	verdict(upPSS <= targetUpPSSMiB, fmt.Sprintf("`peapod up` process ≤ %.0f MiB PSS", targetUpPSSMiB),
		fmt.Sprintf("%.2f MiB PSS (%.2f MiB of it anonymous)", upPSS, kib(memPeapod.procs[0].anon)))
	// What each more container costs is its monitor; the peapod process is
	// paid once per node (or per `up`), whatever the number of containers,
	// and is shown above as its own line.
	monitors := memPeapod.only("conmon")
	per := kib(monitors.pss()) / float64(memPeapod.containers)
	verdict(per <= targetIdleMiB, fmt.Sprintf("idle overhead per added container ≤ %.1f MiB (PSS of its monitor)", targetIdleMiB),
		fmt.Sprintf("%.2f MiB PSS, %.2f MiB RSS; plus %.2f MiB PSS once for the peapod process", per,
			kib(monitors.rss())/float64(memPeapod.containers), kib(memPeapod.pss()-monitors.pss())))
	if pullErr == nil {
		s, p := median(serial), median(parallel)
		verdict(s/p >= targetPullRatio, fmt.Sprintf("%d-layer pull from a local registry ≥ %.0f× faster than serial", pullLayers, targetPullRatio),
			fmt.Sprintf("%.2f× (%.3f s vs %.3f s)", s/p, p, s))
	} else {
		fmt.Printf("  MISS  %d-layer pull ≥ %.0f× faster than serial: not measured: %v\n", pullLayers, targetPullRatio, pullErr)
	}
	if n := danglingSockets(); n > 0 {
		fmt.Printf("\nnote: %s/sockets holds %d dangling symlinks to removed containers (conmon's attach socket links; peapod does not remove them; bench did)\n", *runRoot, n)
	}
	fmt.Printf("\nbench took %.0f s; load average at the end %s\n", time.Since(start).Seconds(), loadavg())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// danglingSockets counts and removes the links in peapod's socket directory
// (conmon makes one per container) whose container directory is gone.
func danglingSockets() (n int) {
	dir := filepath.Join(*runRoot, "sockets")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		link := filepath.Join(dir, e.Name())
		if _, err := os.Stat(link); errors.Is(err, os.ErrNotExist) && e.Type()&os.ModeSymlink != 0 {
			n++
			_ = os.Remove(link)
		}
	}
	return n
}

func verdict(ok bool, what, got string) {
	v := "MISS"
	if ok {
		v = "PASS"
	}
	fmt.Printf("  %s  %s: %s\n", v, what, got)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	cleanup()
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func kib(kb int) float64         { return float64(kb) / 1024 }

func median(xs []float64) float64 { m, _, _ := stats(xs); return m }

// stats returns the median, minimum and maximum.
func stats(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// ---- peapod ----

var (
	mu       sync.Mutex
	stopping bool                   // cleanup began: start nothing more
	running  = map[*exec.Cmd]bool{} // peapod processes started and not yet waited for
	podmanMu sync.Mutex             // held while a command of run (podman, skopeo) runs
)

var errStopping = errors.New("bench is stopping")

var cgroupRootFlag = sync.OnceValue(func() bool {
	out, _ := exec.Command(*peapodBin, "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--cgroup-root"))
})

// peapodRun runs `peapod up` of s until every container is Running, calls
// idle (if not nil) with peapod's PID, then stops it with SIGINT.
func peapodRun(s scenario, idle func(pid int) error) (up, down time.Duration, err error) {
	// A bridge, network and table of the bench's own: the user's peapod0
	// is left alone.
	args := []string{"--root", *root, "--run-root", *runRoot, "--bridge", "peapodbench1", "--pod-cidr", "10.252.0.0/24", "--nft-table", "peapod_bench_up"}
	if cgroupRootFlag() {
		args = append(args, "--cgroup-root", "peapod-bench")
	}
	args = append(args, "up", "-f", s.file, "--image-pull=never")
	cmd := exec.Command(*peapodBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out tail
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	mu.Lock()
	if stopping {
		mu.Unlock()
		return 0, 0, errStopping
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		mu.Unlock()
		return 0, 0, err
	}
	running[cmd] = true
	mu.Unlock()

	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var errLog tail
	seen := map[string]bool{}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	for len(seen) < len(s.running) && err == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				err = errors.New("exited before all containers were running")
				break
			}
			fmt.Fprintln(&errLog, l)
			if name, ok := strings.CutSuffix(l, ": Running"); ok && slices.Contains(s.running, name) {
				seen[name] = true
			}
		case <-timer.C:
			err = fmt.Errorf("containers not running after %v", startTimeout)
		}
	}
	up = time.Since(t0)
	time.Sleep(hold)
	if err == nil && idle != nil {
		time.Sleep(memSettleDelay)
		err = idle(cmd.Process.Pid)
	}

	t1 := time.Now()
	stopErr := stopPeapod(cmd, lines, &errLog)
	down = time.Since(t1)
	if err == nil {
		err = stopErr
	}
	if err != nil {
		err = fmt.Errorf("%w\n--- peapod stderr:\n%s--- stdout:\n%s", err, errLog.String(), out.String())
	}
	return up, down, err
}

// stopPeapod sends SIGINT, drains stderr and waits; a second SIGINT (stop at
// once) after stopTimeout, SIGKILL of that one PID after twice that.
func stopPeapod(cmd *exec.Cmd, lines <-chan string, log io.Writer) error {
	defer func() {
		mu.Lock()
		delete(running, cmd)
		mu.Unlock()
	}()
	_ = cmd.Process.Signal(os.Interrupt)
	deadline := time.After(stopTimeout)
	var timedOut bool
drain:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break drain
			}
			fmt.Fprintln(log, l)
		case <-deadline:
			timedOut = true
			_ = cmd.Process.Signal(os.Interrupt)
			deadline = nil
			go func() {
				time.Sleep(stopTimeout)
				_ = cmd.Process.Kill()
			}()
		}
	}
	err := cmd.Wait()
	if timedOut {
		return fmt.Errorf("did not stop within %v of SIGINT", stopTimeout)
	}
	if err != nil {
		return fmt.Errorf("peapod up after SIGINT: %w", err)
	}
	return nil
}
