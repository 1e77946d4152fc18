// Package servenode runs `peapod serve` on a private root, bridge, table
// and cgroup root for the programs under hack/ that drive it (bench-serve,
// reliability): start and stop it, reach it with client-go and kubectl,
// wait for pods, delete them all.
package servenode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Node is one private serve. Fill the fields, then Start.
type Node struct {
	Bin                 string // peapod binary
	Out                 string // root, kubeconfig, serve.log and files live here
	RunRoot, CgroupRoot string
	PodCIDR             string
	Bridge, NFTable     string
	// ServeArgs are added to serve's own.
	ServeArgs []string

	Serve  *exec.Cmd
	Client kubernetes.Interface
	// Pods is an informer's cache of the pods of namespace default.
	Pods          cache.Indexer
	stopInformers chan struct{}
}

// Root is serve's --root.
func (n *Node) Root() string { return filepath.Join(n.Out, "root") }

// Kubeconfig is the admin kubeconfig serve writes.
func (n *Node) Kubeconfig() string { return filepath.Join(n.Out, "kubeconfig") }

// Peapod is a peapod command with the node's global flags.
func (n *Node) Peapod(args ...string) *exec.Cmd {
	all := append([]string{"--root", n.Root(), "--run-root", n.RunRoot, "--cgroup-root", n.CgroupRoot,
		"--pod-cidr", n.PodCIDR, "--bridge", n.Bridge, "--nft-table", n.NFTable}, args...)
	return exec.Command(n.Bin, all...)
}

// Start runs serve (its stderr appended to serve.log) and returns how long
// it took to say it is ready.
func (n *Node) Start() (time.Duration, error) {
	if err := os.MkdirAll(n.Out, 0o755); err != nil {
		return 0, err
	}
	log, err := os.OpenFile(filepath.Join(n.Out, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--kubeconfig-out", n.Kubeconfig(), "--image-pull", "never"}, n.ServeArgs...)
	cmd := n.Peapod(args...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	t := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n.Serve = cmd
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "peapod: ready" {
			d := time.Since(t)
			go io.Copy(io.Discard, out) // never let serve block on its stdout
			return d, nil
		}
	}
	_ = cmd.Wait()
	n.Serve = nil
	return 0, fmt.Errorf("serve ended before it was ready (see %s)", filepath.Join(n.Out, "serve.log"))
}

// Stop ends serve with sig (SIGKILL: at once, leaving everything as it
// is) and waits for it.
func (n *Node) Stop(sig syscall.Signal) error {
	if n.stopInformers != nil {
		close(n.stopInformers)
		n.stopInformers = nil
	}
	if n.Serve == nil {
		return nil
	}
	_ = n.Serve.Process.Signal(sig)
	err := n.Serve.Wait()
	n.Serve = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil // ended by our signal
	}
	return err
}

// Connect makes Client and the pod informer behind Pods.
func (n *Node) Connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", n.Kubeconfig())
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0
	n.Client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	f := informers.NewSharedInformerFactoryWithOptions(n.Client, 0, informers.WithNamespace("default"))
	inf := f.Core().V1().Pods().Informer()
	n.Pods = inf.GetIndexer()
	n.stopInformers = make(chan struct{})
	f.Start(n.stopInformers)
	if !cache.WaitForCacheSync(n.stopInformers, inf.HasSynced) {
		return errors.New("pod informer did not sync")
	}
	return nil
}

// Kubectl is the real kubectl against serve.
func (n *Node) Kubectl(args ...string) *exec.Cmd {
	return exec.Command("kubectl", append([]string{"--kubeconfig", n.Kubeconfig()}, args...)...)
}

// Write writes content to a file under Out and returns its path.
func (n *Node) Write(name, content string) (string, error) {
	p := filepath.Join(n.Out, name)
	return p, os.WriteFile(p, []byte(content), 0o644)
}

// ErrNotReady: some pods were not Ready in time.
var ErrNotReady = errors.New("not all pods Ready")

// WaitReady polls the informer's cache (1 ms) until n pods named prefix*
// are Ready.
func (n *Node) WaitReady(prefix string, count int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		for _, o := range n.Pods.List() {
			p := o.(*corev1.Pod)
			if strings.HasPrefix(p.Name, prefix) && p.DeletionTimestamp == nil && IsReady(p) {
				ready++
			}
		}
		if ready >= count {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d pods %s* Ready after %v", ErrNotReady, ready, count, prefix, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// IsReady reports the pod's Ready condition.
func IsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DeleteAll deletes every pod of namespace default (with its own grace)
// and waits until the API and the node's pod and log directories are
// empty.
func (n *Node) DeleteAll(timeout time.Duration) error {
	if err := n.Client.CoreV1().Pods("default").DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ents, _ := os.ReadDir(filepath.Join(n.Root(), "pods"))
		logs, _ := os.ReadDir(filepath.Join(n.Root(), "logs"))
		if len(n.Pods.ListKeys()) == 0 && len(ents) == 0 && len(logs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d pods in the API, %d pod directories, %d log directories", timeout, len(n.Pods.ListKeys()), len(ents), len(logs))
		}
		time.Sleep(time.Millisecond)
	}
}

// RSSMiB is a process's resident set in MiB (0 if unreadable).
func RSSMiB(pid int) float64 { return statusMiB(pid, "VmRSS:") }

// AnonMiB is the anonymous part of the process's RSS (heap, stacks):
// what a leak grows, unlike the binary's pages, which count as file.
func AnonMiB(pid int) float64 { return statusMiB(pid, "RssAnon:") }

func statusMiB(pid int, field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
