package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// NodeStreams is the node side of the pods' connect subresources (log,
// exec, attach, portforward): what kube-apiserver reaches on the kubelet.
// The API server resolves the pod and container and checks the request;
// the node finds the container and moves the bytes. serve wires the node
// agent's implementation in, so this package never imports the agent.
type NodeStreams interface {
	// ContainerLogs returns the log of a container of pod. An error
	// before the stream starts is shown to the user (400).
	ContainerLogs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
	// Exec runs cmd in the container; a nil stream is not connected. A
	// command that ran and failed returns a k8s.io/utils/exec.ExitError.
	Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Attach connects to the container's own stdio.
	Attach(ctx context.Context, pod *corev1.Pod, container string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan remotecommand.TerminalSize) error
	// PortForward connects stream to port in the pod's network namespace
	// until either side ends.
	PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error
}

// serveConnect serves a pod's log, exec, attach and portforward.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, q *request) {
	allowed := r.Method == http.MethodGet || (q.subresource != "log" && r.Method == http.MethodPost)
	if !allowed {
		s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), strings.ToLower(r.Method)))
		return
	}
	obj, err := s.store.Get(r.Context(), q.key())
	if err != nil {
		s.writeError(w, storeErr(q.res, q.name, err))
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		s.writeError(w, apierrors.NewInternalError(fmt.Errorf("stored pod is a %T", obj)))
		return
	}
	if s.cfg.Streams == nil {
		s.writeError(w, apierrors.NewServiceUnavailable("no node agent serves pod streams"))
		return
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, badRequestf("pod %s does not have a host assigned", pod.Name))
		return
	}
	switch q.subresource {
	case "log":
		s.serveLog(w, r, pod)
	case "exec", "attach":
		s.serveRemoteCommand(w, r, pod, q.subresource)
	case "portforward":
		s.servePortForward(w, r, pod)
	}
}

// podContainer resolves the container a request names, as kube-apiserver:
// the only container when none is named.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", badRequestf("a container name must be specified for pod %s", pod.Name)
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, containerNames(pod.Spec.Containers))
		if len(pod.Spec.InitContainers) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", containerNames(pod.Spec.InitContainers))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", badRequestf("container %s is not valid for pod %s", name, pod.Name)
}

func containerNames(cs []corev1.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

// nodeError shows what the node refused as a 400, as the kubelet's
// answers reach kubectl.
func nodeError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return apierrors.NewBadRequest(err.Error())
}

// logOptions decodes PodLogOptions from the query by hand: the url.Values
// conversions live in k8s.io/kubernetes, not in k8s.io/api.
func logOptions(v url.Values) (*corev1.PodLogOptions, error) {
	o := &corev1.PodLogOptions{
		Container:  v.Get("container"),
		Follow:     isTrue(v.Get("follow")),
		Previous:   isTrue(v.Get("previous")),
		Timestamps: isTrue(v.Get("timestamps")),
	}
	num := func(key string, min int64) (*int64, error) {
		s := v.Get(key)
		if s == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < min {
			return nil, badRequestf("invalid %s %q: must be an integer >= %d", key, s, min)
		}
		return &n, nil
	}
	var err error
	if o.TailLines, err = num("tailLines", 0); err != nil {
		return nil, err
	}
	if o.LimitBytes, err = num("limitBytes", 1); err != nil {
		return nil, err
	}
	if o.SinceSeconds, err = num("sinceSeconds", 1); err != nil {
		return nil, err
	}
	if s := v.Get("sinceTime"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, badRequestf("invalid sinceTime %q: %v", s, err)
		}
		mt := metav1.NewTime(t)
		o.SinceTime = &mt
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		return nil, badRequestf("at most one of sinceTime or sinceSeconds may be specified")
	}
	return o, nil
}

func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) {
	opts, err := logOptions(r.URL.Query())
	if err != nil {
		s.writeError(w, err)
		return
	}
	if opts.Container, err = podContainer(pod, opts.Container); err != nil {
		s.writeError(w, err)
		return
	}
	rc, err := s.cfg.Streams.ContainerLogs(r.Context(), pod, opts.Container, opts)
	if err != nil {
		s.writeError(w, nodeError(err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w: w}
	fw.f, _ = w.(http.Flusher)
	_, _ = io.Copy(fw, rc)
}

// flushWriter flushes after every write: a followed log shows each line
// as it comes.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

// commandOptions are PodExecOptions/PodAttachOptions from the query;
// kubectl sends "true"/"false" where the kubelet's own URLs use "1".
type commandOptions struct {
	container                  string
	command                    []string
	stdin, stdout, stderr, tty bool
}

func (s *Server) serveRemoteCommand(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, verb string) {
	v := r.URL.Query()
	o := commandOptions{
		command: v["command"],
		stdin:   isTrue(v.Get("stdin")), stdout: isTrue(v.Get("stdout")), stderr: isTrue(v.Get("stderr")),
		tty: isTrue(v.Get("tty")),
	}
	var err error
	if o.container, err = podContainer(pod, v.Get("container")); err != nil {
		s.writeError(w, err)
		return
	}
	if verb == "exec" && len(o.command) == 0 {
		s.writeError(w, badRequestf("you must specify at least 1 command"))
		return
	}
	if !o.stdin && !o.stdout && !o.stderr {
		s.writeError(w, badRequestf("you must specify at least 1 of stdin, stdout, stderr"))
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		what := "exec into"
		if verb == "attach" {
			what = "attach to"
		}
		s.writeError(w, badRequestf("cannot %s a container in a completed pod; current phase is %s", what, pod.Status.Phase))
		return
	}
	run := func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error {
		if verb == "attach" {
			return s.cfg.Streams.Attach(ctx, pod, o.container, stdin, stdout, stderr, o.tty, resize)
		}
		return s.cfg.Streams.Exec(ctx, pod, o.container, o.command, stdin, stdout, stderr, o.tty, resize)
	}
	switch {
	case isWebSocket(r):
		serveWebSocketCommand(w, r, o, run)
	case isSPDY(r):
		serveSPDYCommand(w, r, o, run)
	default:
		s.writeError(w, badRequestf("%s requires a WebSocket or SPDY/3.1 upgrade", verb))
	}
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func isSPDY(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Upgrade")), "spdy/")
}
