package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"

	"peapod/internal/agent/probe"
	"peapod/internal/crilog"
	"peapod/internal/runtime"
)

// Streams is the node side of the pods' log, exec, attach and portforward
// subresources, what the kubelet's streaming server does: the API server
// resolves the pod and container and relays the bytes; Streams finds the
// container instance, its log file or its network namespace.
type Streams struct {
	rt      runtime.Runtime
	logsDir string
	now     func() time.Time
}

// NewStreams serves streams from rt's containers and the logs under
// logsDir (Config.LogsDir).
func NewStreams(rt runtime.Runtime, logsDir string) *Streams {
	return &Streams{rt: rt, logsDir: logsDir, now: time.Now}
}

// podLogDir is <logs>/<namespace>_<name>_<uid>, the kubelet's layout.
func podLogDir(logsDir string, pod *corev1.Pod) string {
	return filepath.Join(logsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

func findStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// logInstance picks the container instance whose log is wanted, by the
// kubelet's rules (validateContainerLogStatus), and returns its attempt
// number (the <n>.log) and whether it is the one still running.
func logInstance(pod *corev1.Pod, name string, previous bool) (attempt int, running bool, err error) {
	cs := findStatus(pod, name)
	if cs == nil {
		return 0, false, fmt.Errorf("container %q in pod %q is not available", name, pod.Name)
	}
	st, last := cs.State, cs.LastTerminationState
	var id string
	switch {
	case previous:
		if last.Terminated == nil || last.Terminated.ContainerID == "" {
			return 0, false, fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
		}
		id = last.Terminated.ContainerID
	case st.Running != nil:
		id, running = cs.ContainerID, true
	case st.Terminated != nil:
		id = st.Terminated.ContainerID
		if id == "" && last.Terminated != nil {
			id = last.Terminated.ContainerID
		}
		if id == "" {
			return 0, false, fmt.Errorf("container %q in pod %q is terminated", name, pod.Name)
		}
	case last.Terminated != nil:
		if id = last.Terminated.ContainerID; id == "" {
			return 0, false, fmt.Errorf("container %q in pod %q is terminated", name, pod.Name)
		}
	case st.Waiting != nil:
		switch reason := st.Waiting.Reason; reason {
		case "ErrImagePull":
			return 0, false, fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", name, pod.Name)
		case "ImagePullBackOff":
			return 0, false, fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", name, pod.Name)
		default:
			return 0, false, fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, reason)
		}
	default:
		return 0, false, fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", name, pod.Name)
	}
	// The agent keeps two instances: the current one (attempt =
	// restartCount, named by containerID) and the one before it.
	attempt = int(cs.RestartCount)
	if id != cs.ContainerID {
		attempt--
	}
	if attempt < 0 {
		return 0, false, fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
	}
	return attempt, running, nil
}

// ContainerLogs streams a container's log as kubectl logs shows it.
// Validation errors come back before anything is streamed.
func (s *Streams) ContainerLogs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	attempt, running, err := logInstance(pod, container, opts.Previous)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(podLogDir(s.logsDir, pod), container, strconv.Itoa(attempt)+".log")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if opts.Follow && running {
		id, err := s.runningContainer(ctx, pod, container)
		if err != nil {
			close(done)
		} else {
			go func() {
				defer close(done)
				_, _ = s.rt.WaitContainer(ctx, id)
			}()
		}
	} else {
		close(done)
	}
	pr, pw := io.Pipe()
	go func() {
		err := writeLog(ctx, path, done, opts, s.now(), pw)
		cancel()
		pw.CloseWithError(err)
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// writeLog writes the log at path to w with the options applied, following
// it until done is closed.
func writeLog(ctx context.Context, path string, done <-chan struct{}, opts *corev1.PodLogOptions, now time.Time, w io.Writer) error {
	var since time.Time
	if opts.SinceTime != nil {
		since = opts.SinceTime.Time
	}
	if opts.SinceSeconds != nil {
		since = now.Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	keep := func(e crilog.Entry) bool { return since.IsZero() || !e.Time.Before(since) }
	skip := int64(0)
	if opts.TailLines != nil {
		// Count first: the tail is of what exists now; later lines follow.
		var total int64
		ended := make(chan struct{})
		close(ended)
		if err := crilog.Follow(ctx, path, ended, func(e crilog.Entry) {
			if keep(e) {
				total++
			}
		}); err != nil {
			return err
		}
		skip = max(0, total-*opts.TailLines)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	left := int64(-1)
	if opts.LimitBytes != nil {
		left = *opts.LimitBytes
	}
	var werr error
	var line []byte
	err := crilog.Follow(ctx, path, done, func(e crilog.Entry) {
		if werr != nil || !keep(e) {
			return
		}
		if skip > 0 {
			skip--
			return
		}
		line = line[:0]
		if opts.Timestamps {
			line = append(e.Time.AppendFormat(line, time.RFC3339Nano), ' ')
		}
		line = append(line, e.Content...)
		if !e.Partial {
			line = append(line, '\n') // a last, unended line stays so, as the kubelet shows it
		}
		if left >= 0 && int64(len(line)) >= left {
			line, werr = line[:left], errLimit
			stop()
		} else if left >= 0 {
			left -= int64(len(line))
		}
		if _, err := w.Write(line); err != nil {
			werr = err
			stop()
		}
	})
	if errors.Is(werr, errLimit) {
		return nil
	}
	if werr != nil {
		return werr
	}
	return err
}

var errLimit = errors.New("limitBytes reached")

// runningContainer is the runtime ID of the running instance of a pod's
// container.
func (s *Streams) runningContainer(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	list, err := s.rt.ListContainers(ctx, string(pod.UID))
	if err != nil {
		return "", err
	}
	var best *runtime.ContainerStatus
	for _, c := range list {
		if c.Labels[LabelContainerName] == name && c.State == runtime.StateRunning && (best == nil || c.Attempt > best.Attempt) {
			best = c
		}
	}
	if best == nil {
		return "", fmt.Errorf("container not found (%q)", name)
	}
	return best.ID, nil
}

// Exec runs cmd in the container. A command that ran and failed is a
// utilexec.CodeExitError carrying its exit code.
func (s *Streams) Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan remotecommand.TerminalSize) error {
	id, err := s.runningContainer(ctx, pod, container)
	if err != nil {
		return err
	}
	req := runtime.ExecRequest{ID: id, Cmd: cmd, Stdin: stdin, Stdout: stdout, Stderr: stderr, Tty: tty, Resize: sizes(ctx, resize)}
	code, err := s.rt.Exec(ctx, req)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with non-zero exit code: exit status %d", code), Code: code}
	}
	return nil
}

// Attach connects to the running container's own stdio.
func (s *Streams) Attach(ctx context.Context, pod *corev1.Pod, container string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan remotecommand.TerminalSize) error {
	a, ok := s.rt.(runtime.Attacher)
	if !ok {
		return errors.New("the container runtime does not support attach")
	}
	id, err := s.runningContainer(ctx, pod, container)
	if err != nil {
		return err
	}
	return a.Attach(ctx, runtime.AttachRequest{ID: id, Stdin: stdin, Stdout: stdout, Stderr: stderr, Tty: tty, Resize: sizes(ctx, resize)})
}

// sizes converts the client's terminal sizes into the runtime's.
func sizes(ctx context.Context, in <-chan remotecommand.TerminalSize) <-chan runtime.TerminalSize {
	if in == nil {
		return nil
	}
	out := make(chan runtime.TerminalSize, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case sz, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// PortForward connects stream to port on the pod's loopback, dialled from
// inside its network namespace as the kubelet does, and copies both ways
// until either side ends.
func (s *Streams) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	sandboxes, err := s.rt.ListSandboxes(ctx)
	if err != nil {
		return err
	}
	var sb *runtime.Sandbox
	for _, x := range sandboxes {
		if x.ID == string(pod.UID) {
			sb = x
		}
	}
	if sb == nil {
		return fmt.Errorf("pod %s/%s has no sandbox on this node", pod.Namespace, pod.Name)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := probe.Target{NetNS: sb.NetNS}.Dial(dctx, "tcp4", addr)
	cancel()
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s: %w", port, pod.Name, trimOp(err))
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, stream)
		if c, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = c.CloseWrite()
		}
	}()
	_, err = io.Copy(stream, conn)
	stream.Close()
	conn.Close()
	wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// trimOp drops the "dial tcp4 127.0.0.1:80: " prefix the message already
// says.
func trimOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		if msg := op.Err.Error(); !strings.Contains(msg, "i/o timeout") {
			return op.Err
		}
	}
	return err
}
