// Command reliability runs issue 15's scenarios against a private serve
// (its own root, run root, bridge, table and cgroup root): serve killed
// with SIGKILL while pods start, a restart under 100 running pods, churn,
// the store killed during a burst of writes and a damaged store file,
// hostile input (the invalid corpus and the fuzzers), escape probes and
// API access. It prints one line per scenario with its figures and PASS or
// FAIL, and exits 1 if any failed. hack/reliability.sh builds and runs it
// (`make reliability`); it is not a test. The integration suite has short
// variants of the scenarios but the first.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"peapod/hack/servenode"
	"peapod/internal/network"
	"peapod/internal/testenv"
)

var (
	peapodBin = flag.String("peapod", "bin/peapod", "peapod binary")
	image     = flag.String("image", "_output/images/busybox", "busybox OCI layout")
	outDir    = flag.String("out", "_output/reliability", "private root, kubeconfig and logs")
	runRoot   = flag.String("run-root", "/run/peapod-reliability", "peapod --run-root")
	podCIDR   = flag.String("pod-cidr", "10.251.0.0/22", "pod network")
	only      = flag.String("scenarios", "", "comma-separated scenarios to run (default: all)")
	crashes   = flag.Int("crashes", 10, "serve kills during pod creation")
	churn     = flag.Int("churn", 1000, "create/delete cycles of the churn, 10 at a time")
	fuzzTime  = flag.String("fuzztime", "10m", "how long each fuzz target runs")
	seed      = flag.Uint64("seed", 0, "random seed (0: from the clock); printed")
)

// Another run beside this one (a second checkout) takes other names.
var (
	bridgeFlag = flag.String("bridge", "peapodrel0", "bridge of the pod network")
	tableFlag  = flag.String("nft-table", "peapod_rel", "nftables table of the Services")
	cgroupFlag = flag.String("cgroup-root", "peapod-reliability", "cgroup root of the pods")
)

type scenario struct {
	name string
	run  func(r *runner) (figures string, err error)
}

var scenarios = []scenario{
	{"crash-during-creation", crashDuringCreation},
	{"restart-with-running-pods", restartWithRunningPods},
	{"churn", churnScenario},
	{"store-crash-safety", storeCrashSafety},
	{"hostile-input", hostileInput},
	{"escape-probes", escapeProbes},
	{"api-access", apiAccess},
}

func main() {
	flag.Parse()
	for _, p := range []*string{peapodBin, image, outDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fatal(err)
		}
		*p = abs
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	r := &runner{rng: rand.New(rand.NewPCG(*seed, 0)), Node: &servenode.Node{
		Bin: *peapodBin, Out: *outDir, RunRoot: *runRoot, CgroupRoot: *cgroupFlag,
		PodCIDR: *podCIDR, Bridge: *bridgeFlag, NFTable: *tableFlag,
	}}
	// A fresh root each run (the binaries beside it stay); pods a failed
	// run left go first, through a serve on the old root.
	if _, err := os.Stat(r.Root()); err == nil {
		if err := r.start(); err != nil {
			fatal(err)
		}
		err := r.DeleteAll(5 * time.Minute)
		r.stop(syscall.SIGTERM)
		if err != nil {
			fatal(fmt.Errorf("removing the last run's pods: %w", err))
		}
	}
	for _, p := range []string{r.Root(), *runRoot, filepath.Join(*outDir, "serve.log")} {
		if err := os.RemoveAll(p); err != nil {
			fatal(err)
		}
	}
	for _, args := range [][]string{{"image", "load", *image}, {"image", "tag", "busybox", "busybox:1.36"}} {
		if out, err := r.Peapod(args...).CombinedOutput(); err != nil {
			fatal(fmt.Errorf("peapod %s: %w: %s", strings.Join(args, " "), err, out))
		}
	}
	want := strings.Split(*only, ",")
	fmt.Printf("peapod reliability: seed %d, serve on %s (bridge %s, table %s, cgroup root %s)\n", *seed, *podCIDR, *bridgeFlag, *tableFlag, *cgroupFlag)
	failed := 0
	for _, s := range scenarios {
		if *only != "" && !slices.Contains(want, s.name) {
			continue
		}
		t := time.Now()
		figures, err := s.run(r)
		if err != nil && r.Serve != nil && r.Client != nil {
			_ = r.DeleteAll(5 * time.Minute) // the next scenario starts clean
		}
		r.stop(syscall.SIGTERM)
		verdict := "PASS"
		if err != nil {
			verdict, failed = "FAIL", failed+1
			figures = strings.TrimSpace(figures + "; " + err.Error())
		}
		fmt.Printf("%s  %-26s %s (%.0f s)\n", verdict, s.name, strings.TrimPrefix(figures, "; "), time.Since(t).Seconds())
	}
	if failed > 0 {
		fmt.Printf("%d scenarios failed (serve's log: %s)\n", failed, filepath.Join(*outDir, "serve.log"))
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
	os.Exit(1)
}

type runner struct {
	*servenode.Node
	rng *rand.Rand
}

// start runs serve and connects to it.
func (r *runner) start() error {
	if _, err := r.Start(); err != nil {
		return err
	}
	return r.Connect()
}

// stop ends serve if it runs; SIGKILL leaves everything as it is.
func (r *runner) stop(sig syscall.Signal) {
	if err := r.Stop(sig); err != nil {
		fmt.Fprintf(os.Stderr, "reliability: stopping serve: %v\n", err)
	}
}

// leaks is what serve left on the host once its pods are deleted and it
// stopped: mounts, network namespaces, veths, cgroups, processes, IPAM
// addresses, nat rules, and per-pod state and logs.
func (r *runner) leaks() ([]string, error) {
	root := r.Root()
	return testenv.Leaks{
		Root: root, RunRoot: *runRoot, CgroupRoot: *cgroupFlag,
		EmptyDirs: []string{
			filepath.Join(root, "containers"), filepath.Join(root, "pods"), filepath.Join(root, "logs"),
			filepath.Join(*runRoot, "sockets"), filepath.Join(*runRoot, "sandboxes"), filepath.Join(*runRoot, "crun"),
		},
		Bridge: *bridgeFlag, IPAMDir: filepath.Join(*runRoot, "cni", "networks", network.NetworkName), Subnet: *podCIDR,
	}.Find()
}

// deleteAndCheck deletes every pod, stops serve and returns the leaks.
func (r *runner) deleteAndCheck() error {
	if err := r.DeleteAll(5 * time.Minute); err != nil {
		return err
	}
	r.stop(syscall.SIGTERM)
	left, err := r.leaks()
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("%d leaks: %s", len(left), strings.Join(left[:min(len(left), 8)], ", "))
	}
	return nil
}

// apply writes manifest to a file and applies it with kubectl.
func (r *runner) apply(name, manifest string) error {
	f, err := r.Write(name, manifest)
	if err != nil {
		return err
	}
	if out, err := r.Kubectl("apply", "-f", f).CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply %s: %w: %s", name, err, out)
	}
	return nil
}
