package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"peapod/internal/agent"
	"peapod/internal/crilog"
	"peapod/internal/manifest"
	"peapod/internal/registry"
	"peapod/internal/timeline"
)

type upFlags struct {
	files    []string
	pull     agent.PullMode
	timeout  time.Duration
	timeline string
}

func newUpCommand(g *globals, s Streams) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up -f FILE...",
		Short: "Run the pods of the given manifests in the foreground",
		Long: `Run the pods of the given manifests in the foreground, with the kubelet's
semantics, printing each container's output prefixed with its name. Ctrl-C
(or SIGTERM, or --timeout) stops them gracefully; a second Ctrl-C stops at once.
The exit status is 0 if every pod succeeded or was running well when stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), g, f, s)
		},
	}
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "manifest file (YAML or JSON, several documents allowed); - for standard input")
	addPullModeFlag(cmd, &f.pull)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "stop the pods gracefully after this long (0: run until they finish or Ctrl-C)")
	cmd.Flags().StringVar(&f.timeline, "timeline", "", "write the pods' lifecycle timeline to this HTML file when they end (one self-contained page)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func runUp(ctx context.Context, g *globals, f *upFlags, s Streams) error {
	alloc, err := g.serviceAllocator()
	if err != nil {
		return err
	}
	objs, err := readObjects(f.files, s.In)
	if err != nil {
		return err
	}
	pods := objs.Pods
	images, err := g.images()
	if err != nil {
		return err
	}
	rt, err := g.containerRuntime()
	if err != nil {
		return err
	}
	podNet, err := g.podNetwork(ctx, rt, s.Err)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	var stopOnce sync.Once
	requestStop := func() { stopOnce.Do(func() { close(stop) }) }
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// A closed stdout or stderr (a pipe to `head`) must not kill up before
	// it has stopped its pods: writes fail with EPIPE instead.
	signal.Ignore(syscall.SIGPIPE)
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				if n == 1 {
					fmt.Fprintln(s.Err, "stopping pods (Ctrl-C again to stop at once)")
					requestStop()
				} else {
					cancel()
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	if f.timeout > 0 {
		t := time.AfterFunc(f.timeout, requestStop)
		defer t.Stop()
	}

	rep := newUpReporter(s, len(pods) > 1, stop)
	var reporter agent.Reporter = rep
	if len(objs.Services) > 0 {
		if err := allocateServices(alloc, objs.Services); err != nil {
			return err
		}
		u, stopServices, err := startUpServices(ctx, g, objs.Services, rep, s)
		if err != nil {
			return err
		}
		defer func() {
			if err := stopServices(); err != nil {
				fmt.Fprintln(s.Err, "peapod:", err)
			}
		}()
		reporter = u
	}
	// After allocateServices: the DNS answers with their cluster IPs.
	nameservers, reporter, stopDNS := startUpDNS(podNet.HostIP(), objs.Services, reporter, s.Err)
	defer stopDNS()
	var book *timeline.Book
	if f.timeline != "" {
		book, _ = timeline.NewBook("") // in memory: cannot fail
		reporter = &timeline.Recorder{Next: reporter, Book: book}
	}
	cfg := agent.Config{
		Runtime:    rt,
		Images:     images,
		PodsDir:    filepath.Join(g.root, "pods"),
		LogsDir:    filepath.Join(g.root, "logs"),
		SeccompDir: filepath.Join(g.root, "seccomp"),
		Pull:       f.pull,
		Reporter:   reporter,
		Logs:       rep.Log,
		Objects:    &agent.StaticObjects{ConfigMaps: objs.ConfigMaps, Secrets: objs.Secrets, Services: objs.Services},
		Network:    podNet,
		ClusterDNS: nameservers,
	}
	results := make([]*corev1.Pod, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = agent.Run(ctx, cfg, pod, stop)
		}()
	}
	wg.Wait()

	printPodTable(s.Out, results, time.Now())
	if book != nil {
		if err := writeTimeline(f.timeline, book); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "peapod: timeline written to %s\n", f.timeline)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, p := range results {
		if !rep.endedWell(p) {
			return exitError{code: 1}
		}
	}
	return nil
}

// readObjects decodes files, then defaults and validates every pod before
// anything runs, and gives each a UID and creation time.
func readObjects(files []string, stdin io.Reader) (*manifest.Objects, error) {
	var objs manifest.Objects
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		if err := objs.Decode(r, name); err != nil {
			return nil, err
		}
	}
	if len(objs.Pods) == 0 {
		return nil, errors.New("no pods in the given files")
	}
	seen := map[string]bool{}
	now := metav1.Now()
	for _, pod := range objs.Pods {
		registry.DefaultPod(pod)
		if err := registry.ValidatePod(pod); err != nil {
			return nil, err
		}
		key := pod.Namespace + "/" + pod.Name
		if seen[key] {
			return nil, fmt.Errorf("pod %q is given twice", key)
		}
		seen[key] = true
		pod.UID = types.UID(uuid.NewUUID())
		pod.CreationTimestamp = now
	}
	return &objs, nil
}

// printPodTable prints pods in `kubectl get pods` columns.
func printPodTable(out io.Writer, pods []*corev1.Pod, now time.Time) {
	tw := tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(registry.PodColumns, "\t"))
	for _, p := range pods {
		if p != nil {
			fmt.Fprintln(tw, strings.Join(registry.PodRow(p, now), "\t"))
		}
	}
	tw.Flush()
}

// upReporter prints container output and status transitions, and
// remembers how each pod was doing when it was asked to stop.
type upReporter struct {
	s        Streams
	withPod  bool
	stop     <-chan struct{}
	mu       sync.Mutex
	last     map[types.UID]map[string]string // container -> last printed state
	stopping map[types.UID]bool              // was healthy when stop came
}

func newUpReporter(s Streams, withPod bool, stop <-chan struct{}) *upReporter {
	return &upReporter{s: s, withPod: withPod, stop: stop, last: map[types.UID]map[string]string{}, stopping: map[types.UID]bool{}}
}

func (r *upReporter) prefix(pod *corev1.Pod, container string) string {
	if r.withPod {
		return pod.Name + "/" + container
	}
	return container
}

func (r *upReporter) Log(pod *corev1.Pod, container string, e crilog.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.s.Out, "%s | %s\n", r.prefix(pod, container), e.Content)
}

// quietEvents are the routine events the status lines already tell.
var quietEvents = map[string]bool{"Pulling": true, "Pulled": true, "Created": true, "Started": true}

func (r *upReporter) Event(pod *corev1.Pod, container, eventType, reason, message string) {
	if eventType == corev1.EventTypeNormal && quietEvents[reason] {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	who := pod.Name
	if container != "" {
		who += "/" + container
	}
	fmt.Fprintf(r.s.Err, "%s: %s %s: %s\n", who, eventType, reason, message)
}

func (r *upReporter) Status(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.last[pod.UID]
	if last == nil {
		last = map[string]string{}
		r.last[pod.UID] = last
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		line := describeState(cs.State)
		if cs.State.Running != nil && hasProbes(pod, cs.Name) {
			switch {
			case cs.Ready:
				line += ", ready"
			case cs.Started != nil && !*cs.Started:
				line += ", not started"
			default:
				line += ", not ready"
			}
		}
		if last[cs.Name] != line {
			last[cs.Name] = line
			fmt.Fprintf(r.s.Err, "%s: %s\n", r.prefix(pod, cs.Name), line)
		}
	}
	select {
	case <-r.stop:
	default:
		r.stopping[pod.UID] = healthy(pod)
	}
}

// endedWell is true for a pod that succeeded, or that was running without
// trouble when it was asked to stop.
func (r *upReporter) endedWell(pod *corev1.Pod) bool {
	if pod == nil {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return true
	}
	select {
	case <-r.stop:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.stopping[pod.UID]
	default:
		return false
	}
}

// healthy: running, and no container has failed or been held back.
func healthy(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.RestartCount > 0 || cs.State.Waiting != nil || cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			return false
		}
	}
	return true
}

// hasProbes: only the status line of a probed container tells whether it
// is started and ready (the others are as soon as they run).
func hasProbes(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return c.StartupProbe != nil || c.ReadinessProbe != nil
			}
		}
	}
	return false
}

func describeState(st corev1.ContainerState) string {
	switch {
	case st.Running != nil:
		return "Running"
	case st.Terminated != nil:
		t := st.Terminated
		return fmt.Sprintf("Terminated: %s (exit code %d)", t.Reason, t.ExitCode)
	case st.Waiting != nil:
		if st.Waiting.Message != "" {
			return fmt.Sprintf("Waiting: %s: %s", st.Waiting.Reason, st.Waiting.Message)
		}
		return "Waiting: " + st.Waiting.Reason
	}
	return "Unknown"
}

// writeTimeline writes book's page to file.
func writeTimeline(file string, book *timeline.Book) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := timeline.WritePage(f, book.All()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
