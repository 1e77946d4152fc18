package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"peapod/hack/servenode"
)

// threeContainers are pods name-0..n-1 of three containers.
func threeContainers(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: %s-%d}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: a, image: busybox:1.36, command: ["sh", "-c", "trap 'exit 0' TERM; echo a; sleep 3600 & wait"]}
  - {name: b, image: busybox:1.36, command: ["sh", "-c", "trap 'exit 0' TERM; echo b; sleep 3600 & wait"]}
  - {name: c, image: busybox:1.36, command: ["sh", "-c", "trap 'exit 0' TERM; echo c; sleep 3600 & wait"]}
`, prefix, i)
	}
	return b.String()
}

type footprint struct {
	rss, anon, store, root float64 // MiB
}

func (r *runner) footprint() footprint {
	var f footprint
	f.rss, f.anon = servenode.RSSMiB(r.Serve.Process.Pid), servenode.AnonMiB(r.Serve.Process.Pid)
	if fi, err := os.Stat(filepath.Join(r.Root(), "store", "peapod.db")); err == nil {
		f.store = float64(fi.Size()) / (1 << 20)
	}
	// The root without the image store, which the scenarios do not change.
	_ = filepath.WalkDir(r.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p == filepath.Join(r.Root(), "images") {
			return filepath.SkipDir
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			f.root += float64(fi.Size()) / (1 << 20)
		}
		return nil
	})
	return f
}

// Scenario 3 (and 7's disk): -churn create/delete cycles of a 3-container
// pod, 10 at a time: nothing left at the end, serve's memory no more than
// 10 % over cycle 100's, the store file and the root (logs included) at
// most one bbolt growth step (a doubling) bigger. Events expire after a
// minute here (--event-ttl), as they would after the default hour.
func churnScenario(r *runner) (string, error) {
	r.ServeArgs = []string{"--event-ttl=1m"}
	defer func() { r.ServeArgs = nil }()
	if err := r.start(); err != nil {
		return "", err
	}
	rounds := max(*churn/10, 1)
	manifest := threeContainers("churn", 10)
	var at100 footprint
	t := time.Now()
	for round := 1; round <= rounds; round++ {
		if err := r.apply("churn.yaml", manifest); err != nil {
			return "", err
		}
		if err := r.WaitReady("churn-", 10, 2*time.Minute); err != nil {
			return "", fmt.Errorf("round %d: %w", round, err)
		}
		if err := r.DeleteAll(2 * time.Minute); err != nil {
			return "", fmt.Errorf("round %d: %w", round, err)
		}
		if round == min(10, rounds) {
			r.saveHeap("churn-heap-100.pprof") // after a GC: what is live
			at100 = r.footprint()
		}
	}
	elapsed := time.Since(t)
	r.saveHeap("churn-heap-end.pprof")
	end := r.footprint()
	logs, _ := os.ReadDir(filepath.Join(r.Root(), "logs"))
	figures := fmt.Sprintf("%d cycles in %.0f s; after cycle %d → %d: serve RSS %.1f → %.1f MiB (%+.0f %%; anonymous %.1f → %.1f MiB), store %.2f → %.2f MiB, root %.2f → %.2f MiB, %d log directories left",
		rounds*10, elapsed.Seconds(), min(10, rounds)*10, rounds*10, at100.rss, end.rss, 100*(end.rss/at100.rss-1), at100.anon, end.anon, at100.store, end.store, at100.root, end.root, len(logs))
	var errs []error
	if end.rss > 1.1*at100.rss {
		errs = append(errs, errors.New("serve's RSS grew more than 10 %"))
	}
	// bbolt grows its file by doubling it (reusing freed pages first):
	// one step is not growth without bound, two would be.
	if end.store > 2*at100.store+0.5 || end.root > 2*at100.root+1 {
		errs = append(errs, errors.New("the store or the root more than doubled"))
	}
	if err := r.deleteAndCheck(); err != nil {
		errs = append(errs, err)
	}
	return figures, errors.Join(errs...)
}

// saveHeap keeps serve's heap profile (after a GC) in the output
// directory, for `go tool pprof -base` between two moments of a run.
func (r *runner) saveHeap(name string) {
	b, err := r.Client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("gc", "1").DoRaw(context.Background())
	if err == nil {
		err = os.WriteFile(filepath.Join(r.Out, name), b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: heap profile %s: %v\n", name, err)
	}
}
