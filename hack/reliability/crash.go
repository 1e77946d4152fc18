package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mixedPods are n pods of an init container, a native sidecar and a main
// container with a ConfigMap volume; every fifth has a hostPort.
func mixedPods(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + prefix + "-cfg}\ndata: {greeting: hello}\n")
	for i := range n {
		ports := ""
		if i%5 == 0 {
			ports = fmt.Sprintf("    ports: [{containerPort: 8080, hostPort: %d}]\n", 31000+i)
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: %s-%d}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: init, image: busybox:1.36, command: ["true"]}
  - {name: side, image: busybox:1.36, restartPolicy: Always, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; cat /cfg/greeting; sleep 3600 & wait"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
%s  volumes:
  - name: cfg
    configMap: {name: %s-cfg}
`, prefix, i, ports, prefix)
	}
	return b.String()
}

// restarts lists the containers of pods prefix* that restarted although
// they had run: the kubelet counts one restart for a container whose
// instance was created and never started (the agent died in between), but
// one that ran must be the same instance after the agent's restart. It
// also returns how many containers counted such a restart.
func (r *runner) restarts(prefix string) (ran []string, neverStarted int) {
	for _, o := range r.Pods.List() {
		p := o.(*corev1.Pod)
		if !strings.HasPrefix(p.Name, prefix) {
			continue
		}
		for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			last := cs.LastTerminationState
			switch {
			case cs.RestartCount == 0:
			case cs.RestartCount == 1 && (last.Waiting != nil || last.Terminated != nil && last.Terminated.StartedAt.IsZero()):
				neverStarted++
			default:
				ran = append(ran, fmt.Sprintf("%s/%s ×%d", p.Name, cs.Name, cs.RestartCount))
			}
		}
	}
	slices.Sort(ran)
	return ran, neverStarted
}

// Scenario 1: serve killed with SIGKILL at a random moment while 50 pods
// start, then started again: every pod Ready, no container that ran
// restarted, and nothing left once they are deleted.
func crashDuringCreation(r *runner) (string, error) {
	const n = 50
	manifest := mixedPods("crash", n)
	var kills []string
	var converge []float64
	cutShort := 0
	for i := range *crashes {
		if err := r.start(); err != nil {
			return "", err
		}
		at := time.Duration(r.rng.Int64N(int64(4 * time.Second)))
		t := time.Now()
		if err := r.apply("crash.yaml", manifest); err != nil {
			return "", err
		}
		time.Sleep(time.Until(t.Add(at))) // the moment of the kill, not a wait for anything
		r.stop(syscall.SIGKILL)
		kills = append(kills, fmt.Sprintf("%.1f", at.Seconds()))
		t = time.Now()
		if err := r.start(); err != nil {
			return "", err
		}
		if err := r.WaitReady("crash-", n, 3*time.Minute); err != nil {
			return "", fmt.Errorf("kill %d at %v: %w", i+1, at, err)
		}
		converge = append(converge, time.Since(t).Seconds())
		ran, cut := r.restarts("crash-")
		if len(ran) > 0 {
			return "", fmt.Errorf("kill %d at %v: containers that ran were restarted: %s", i+1, at, strings.Join(ran, ", "))
		}
		cutShort += cut
		if err := r.deleteAndCheck(); err != nil {
			return "", fmt.Errorf("kill %d at %v: %w", i+1, at, err)
		}
	}
	slices.Sort(converge)
	return fmt.Sprintf("%d kills (at %s s after apply): %d/%d pods Ready every time, no container that ran restarted (%d created and never started counted one restart, as the kubelet counts them), 0 leaks; restart → all Ready median %.1f s (max %.1f)",
		len(kills), strings.Join(kills, ", "), n, n, cutShort, converge[len(converge)/2], converge[len(converge)-1]), nil
}

// Scenario 2: 100 pods that log a counter keep running across a restart of
// serve: the same containers, every line once in kubectl logs, and the exit
// of a container during the downtime recorded.
func restartWithRunningPods(r *runner) (string, error) {
	const n = 100
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: keep-%d}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox:1.36, command: ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"]}
`, i)
	}
	b.WriteString(`---
apiVersion: v1
kind: Pod
metadata: {name: ender}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox:1.36, command: ["sh", "-c", "sleep 5; exit 3"]}
`)
	if err := r.start(); err != nil {
		return "", err
	}
	if err := r.apply("keep.yaml", b.String()); err != nil {
		return "", err
	}
	if err := r.WaitReady("keep-", n, 3*time.Minute); err != nil {
		return "", err
	}
	if err := r.WaitReady("ender", 1, time.Minute); err != nil {
		return "", err
	}
	ids := r.containerIDs("keep-")
	down := 15 * time.Second // longer than ender's life: it exits while serve is down
	r.stop(syscall.SIGTERM)
	time.Sleep(down)
	if err := r.start(); err != nil {
		return "", err
	}
	if err := r.WaitReady("keep-", n, 3*time.Minute); err != nil {
		return "", err
	}
	after := r.containerIDs("keep-")
	changed := 0
	for k, id := range ids {
		if after[k] != id {
			changed++
		}
	}
	var ended string
	deadline := time.Now().Add(time.Minute)
	for ended == "" {
		p, err := r.Client.CoreV1().Pods("default").Get(context.Background(), "ender", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodFailed && len(p.Status.ContainerStatuses) == 1 {
			if t := p.Status.ContainerStatuses[0].State.Terminated; t != nil && t.ExitCode == 3 {
				ended = fmt.Sprintf("exit %d (%s) recorded", t.ExitCode, t.Reason)
			}
		}
		if time.Now().After(deadline) {
			return "", errors.New("the exit of ender during the downtime was not recorded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	gaps := 0
	for i := range n {
		out, err := r.Kubectl("logs", fmt.Sprintf("keep-%d", i)).Output()
		if err != nil {
			return "", fmt.Errorf("kubectl logs keep-%d: %w", i, err)
		}
		for j, l := range strings.Fields(string(out)) {
			if l != strconv.Itoa(j) {
				gaps++
				break
			}
		}
	}
	figures := fmt.Sprintf("%d/%d pods kept their containers across %v of downtime, logs continuous in %d/%d, ender's %s", n-changed, n, down, n-gaps, n, ended)
	if changed > 0 || gaps > 0 {
		return figures, errors.New("containers replaced or log lines lost")
	}
	return figures, r.deleteAndCheck()
}

// containerIDs maps pod/container to its container ID, for pods prefix*.
func (r *runner) containerIDs(prefix string) map[string]string {
	ids := map[string]string{}
	for _, o := range r.Pods.List() {
		p := o.(*corev1.Pod)
		if strings.HasPrefix(p.Name, prefix) {
			for _, cs := range p.Status.ContainerStatuses {
				ids[p.Name+"/"+cs.Name] = cs.ContainerID
			}
		}
	}
	return ids
}

// Scenario 4: serve killed with SIGKILL during a burst of 1000 ConfigMap
// creates (8 at a time): after a restart every acknowledged one is there,
// whole; then a damaged store file stops serve with its name.
func storeCrashSafety(r *runner) (string, error) {
	if err := r.start(); err != nil {
		return "", err
	}
	var mu sync.Mutex
	var acked []string
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := r.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, cm.Name)
					mu.Unlock()
				}
			}
		}()
	}
	killAt := 200 + r.rng.IntN(600)
	for i := range 1000 {
		if i == killAt {
			r.stop(syscall.SIGKILL)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := r.start(); err != nil {
		return "", err
	}
	list, err := r.Client.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	stored := map[string]bool{}
	for _, c := range list.Items {
		if strings.HasPrefix(c.Name, "burst-") {
			if c.Data["i"] != strings.TrimPrefix(c.Name, "burst-") {
				return "", fmt.Errorf("%s stored half: %v", c.Name, c.Data)
			}
			stored[c.Name] = true
		}
	}
	var lost []string
	for _, a := range acked {
		if !stored[a] {
			lost = append(lost, a)
		}
	}
	figures := fmt.Sprintf("killed at create %d of 1000: %d acknowledged, %d stored, %d lost", killAt, len(acked), len(stored), len(lost))
	if len(lost) > 0 {
		return figures, fmt.Errorf("acknowledged writes lost: %s", strings.Join(lost, ", "))
	}
	r.stop(syscall.SIGTERM)
	damaged, err := r.damagedStore()
	return figures + "; " + damaged, err
}

// damagedStore starts serve on a copy of the store cut to half its size:
// it must exit with an error naming the file.
func (r *runner) damagedStore() (string, error) {
	b, err := os.ReadFile(filepath.Join(r.Root(), "store", "peapod.db"))
	if err != nil {
		return "", err
	}
	root := filepath.Join(*outDir, "damaged")
	db := filepath.Join(root, "store", "peapod.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	if err := os.WriteFile(db, b[:len(b)/2], 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, *peapodBin, "--root", root, "--run-root", filepath.Join(root, "run"), "serve",
		"--listen", "127.0.0.1:0", "--kubeconfig-out", filepath.Join(root, "kubeconfig")).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ctx.Err() != nil || !strings.Contains(string(out), db) {
		return "", fmt.Errorf("serve on a store cut in half: %v: %s", err, out)
	}
	return "a store cut in half: serve exits " + strconv.Itoa(ee.ExitCode()) + " naming the file", nil
}
