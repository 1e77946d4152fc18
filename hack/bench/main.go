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
	"net"
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

// ---- podman ----

var podmanErr error // why podman is not compared, if it is not

func podmanCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", append([]string{
		"--root", filepath.Join(*outDir, "podman/root"),
		"--runroot", filepath.Join(*outDir, "podman/runroot"),
		"--storage-driver", "overlay",
	}, args...)...)
	cmd.Env = append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(*outDir, "containers.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(*outDir, "registries.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs cmd to completion; cleanup waits for it before taking pods down.
func run(cmd *exec.Cmd) error {
	podmanMu.Lock()
	defer podmanMu.Unlock()
	mu.Lock()
	st := stopping
	mu.Unlock()
	if st {
		return errStopping
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// setupPodman writes podman's private configuration (host-notes.md,
// "Podman as the benchmark peer") and imports the busybox OCI layout.
func setupPodman() error {
	if _, err := exec.LookPath("podman"); err != nil {
		return err
	}
	p := filepath.Join(*outDir, "podman")
	for _, d := range []string{"root", "runroot", "tmp", "networks"} {
		if err := os.MkdirAll(filepath.Join(p, d), 0o700); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`# written by hack/bench: podman's configuration for the benchmark only
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %[1]q
runtime = "crun"
tmp_dir = %[2]q

[network]
network_backend = "netavark"
network_config_dir = %[3]q
`, filepath.Join(p, "events.log"), filepath.Join(p, "tmp"), filepath.Join(p, "networks"))
	if err := os.WriteFile(filepath.Join(*outDir, "containers.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	// No registries: short names resolve in the local store or fail.
	reg := "unqualified-search-registries = []\nshort-name-mode = \"permissive\"\n"
	if err := os.WriteFile(filepath.Join(*outDir, "registries.conf"), []byte(reg), 0o644); err != nil {
		return err
	}
	if err := run(podmanCmd("info")); err != nil {
		return err
	}
	if err := podmanNetwork(); err != nil {
		return err
	}
	// Pods say image: busybox; podman resolves it to docker.io/library/busybox:latest.
	if _, err := exec.LookPath("skopeo"); err != nil {
		return err
	}
	// Copy only when the store lacks this manifest: skopeo writes its blob
	// info cache under /var/lib/containers/cache when it copies.
	index, err := os.ReadFile(filepath.Join(*layout, "index.json"))
	if err != nil {
		return err
	}
	have, _ := podmanCmd("image", "inspect", "--format", "{{.Digest}}", "docker.io/library/busybox:latest").Output()
	if d := strings.TrimSpace(string(have)); d != "" && bytes.Contains(index, []byte(`"`+d+`"`)) {
		return podmanDownAllOnce()
	}
	dest := fmt.Sprintf("containers-storage:[overlay@%s+%s]docker.io/library/busybox:latest",
		filepath.Join(p, "root"), filepath.Join(p, "runroot"))
	if err := run(exec.Command("skopeo", "copy", "--quiet", "oci:"+*layout, dest)); err != nil {
		return err
	}
	return podmanDownAllOnce()
}

// podmanNetwork creates podman's bridge network on a free /24 (the
// first 10.253.N.0/24 no route or address of the host's overlaps, unless
// -podman-subnet names one). Its configuration is in the private config
// dir; netavark makes the bridge and its rules while a pod is on it, and
// cleanup removes the network.
func podmanNetwork() error {
	_ = podmanCmd("network", "rm", "--force", bridgeName).Run() // one an interrupted run left
	if *subnet == "" {
		taken, err := hostNets()
		if err != nil {
			return err
		}
		for i := 0; i < 256 && *subnet == ""; i++ {
			_, n, _ := net.ParseCIDR(fmt.Sprintf("10.253.%d.0/24", i))
			if !slices.ContainsFunc(taken, func(t *net.IPNet) bool { return t.Contains(n.IP) || n.Contains(t.IP) }) {
				*subnet = n.String()
			}
		}
		if *subnet == "" {
			return errors.New("no free /24 in 10.253.0.0/16 for podman's bridge network")
		}
	}
	mu.Lock()
	podmanNet = true
	mu.Unlock()
	return run(podmanCmd("network", "create", "--subnet", *subnet, bridgeName))
}

// hostNets are the host's IPv4 routes and interface networks.
func hostNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, n)
		}
	}
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue // the default route overlaps everything and nothing
		}
		le := func(v uint64) net.IP { return net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
		m := le(mask).To4()
		nets = append(nets, &net.IPNet{IP: le(dst).To4(), Mask: net.IPMask(m)})
	}
	return nets, nil
}

// podmanDownAllOnce removes pods an interrupted run may have left (play
// would fail on them) and makes cleanup take them down from now on.
func podmanDownAllOnce() error {
	mu.Lock()
	podmanUsed = true
	mu.Unlock()
	podmanDownAll()
	return nil
}

// podmanRun plays s, calls idle (if not nil), and takes it down.
func podmanRun(s scenario, tool string, idle func() error) (up, down time.Duration, err error) {
	network := "none"
	if tool == podmanBridge {
		network = bridgeName
	}
	t0 := time.Now()
	err = run(podmanCmd("kube", "play", "--network", network, s.file))
	up = time.Since(t0)
	time.Sleep(hold)
	if err == nil && idle != nil {
		time.Sleep(memSettleDelay)
		err = idle()
	}
	t1 := time.Now()
	downErr := run(podmanCmd("kube", "down", s.file))
	down = time.Since(t1)
	if err == nil {
		err = downErr
	}
	return up, down, err
}

var podmanUsed, podmanNet bool

func podmanDownAll() {
	for _, f := range []string{"one.yaml", "three.yaml"} {
		_ = podmanCmd("kube", "down", filepath.Join(*podsDir, f)).Run()
	}
	_ = podmanCmd("pod", "rm", "--force", "--ignore", "bench-one", "bench-three").Run()
}

// cleanup stops every peapod still running and takes podman's pods down.
func cleanup() {
	mu.Lock()
	stopping = true
	var cmds []*exec.Cmd
	for c := range running {
		cmds = append(cmds, c)
	}
	mu.Unlock()
	for _, c := range cmds {
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			_ = c.Process.Signal(os.Interrupt) // a second one stops at once
			select {
			case <-done:
			case <-time.After(stopTimeout):
				_ = c.Process.Kill()
			}
		}
	}
	podmanMu.Lock() // let a play that is under way finish first
	defer podmanMu.Unlock()
	mu.Lock()
	used, withNet := podmanUsed, podmanNet
	mu.Unlock()
	if used {
		podmanDownAll()
	}
	if withNet {
		_ = podmanCmd("network", "rm", "--force", bridgeName).Run()
	}
}

// ---- memory ----

type proc struct {
	what           string
	pss, anon, rss int // kB; anon: the anonymous part of pss
}

type memory struct {
	tool       string
	containers int
	procs      []proc
}

// only keeps the processes whose description mentions what.
func (m *memory) only(what string) *memory {
	out := &memory{tool: m.tool, containers: m.containers}
	for _, p := range m.procs {
		if strings.Contains(p.what, what) {
			out.procs = append(out.procs, p)
		}
	}
	return out
}

func (m *memory) pss() (n int) {
	for _, p := range m.procs {
		n += p.pss
	}
	return n
}

func (m *memory) anon() (n int) {
	for _, p := range m.procs {
		n += p.anon
	}
	return n
}

func (m *memory) rss() (n int) {
	for _, p := range m.procs {
		n += p.rss
	}
	return n
}

func readMem(pid int, what string) (proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return proc{}, err
	}
	p := proc{what: what}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Pss:":
			p.pss = v
		case "Pss_Anon:":
			p.anon = v
		case "Rss:":
			p.rss = v
		}
	}
	return p, nil
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// peapodMemory reads `peapod up` itself and the conmon processes it started
// (its children: it is their subreaper).
func peapodMemory(pid int) (*memory, error) {
	m := &memory{tool: "peapod", containers: 3}
	self, err := readMem(pid, "peapod up")
	if err != nil {
		return nil, err
	}
	m.procs = append(m.procs, self)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var conmons []proc
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || ppid(child) != pid || comm(child) != "conmon" {
			continue
		}
		p, err := readMem(child, "")
		if err != nil {
			return nil, err
		}
		conmons = append(conmons, p)
	}
	if len(conmons) != m.containers {
		return nil, fmt.Errorf("found %d conmon children of peapod up, want %d", len(conmons), m.containers)
	}
	m.procs = append(m.procs, sum(fmt.Sprintf("%d × conmon", len(conmons)), conmons))
	return m, nil
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func sum(what string, ps []proc) proc {
	t := proc{what: what}
	for _, p := range ps {
		t.pss += p.pss
		t.anon += p.anon
		t.rss += p.rss
	}
	return t
}

// podmanMemory reads the conmon of every container of the pod, the infra
// container's included.
func podmanMemory(s scenario) (*memory, error) {
	out, err := podmanCmd("ps", "--all", "--filter", "pod="+s.pod, "--format", "{{.ID}} {{.IsInfra}}").Output()
	if err != nil {
		return nil, fmt.Errorf("podman ps: %w", err)
	}
	var app, infra []proc
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		o, err := podmanCmd("inspect", "--format", "{{.State.ConmonPid}}", f[0]).Output()
		if err != nil {
			return nil, fmt.Errorf("podman inspect: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(o)))
		if err != nil || comm(pid) != "conmon" {
			return nil, fmt.Errorf("container %s: no conmon process (%q)", f[0], o)
		}
		p, err := readMem(pid, "")
		if err != nil {
			return nil, err
		}
		if f[1] == "true" {
			infra = append(infra, p)
		} else {
			app = append(app, p)
		}
	}
	if len(app) != len(s.running) {
		return nil, fmt.Errorf("found %d containers in pod %s, want %d", len(app), s.pod, len(s.running))
	}
	return &memory{tool: "podman", containers: len(s.running), procs: []proc{
		sum(fmt.Sprintf("%d × conmon", len(app)), app),
		sum(fmt.Sprintf("%d × conmon (infra container)", len(infra)), infra),
	}}, nil
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
