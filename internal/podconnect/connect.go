// Package podconnect serves the pods' connect subresources (log, exec,
// attach, portforward) for the API server: the request checks and
// stream framing kube-apiserver and the kubelet do between them.
package podconnect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"peapod/internal/registry"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/client-go/tools/remotecommand"
)

// NodeStreams is the node side of the pods' connect subresources (log,
// exec, attach, portforward): what kube-apiserver reaches on the kubelet.
// The Handler resolves the pod and container and checks the request;
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

// Handler serves the pods' connect subresources on the API server's side:
// it checks the request and resolves the container as kube-apiserver does,
// then Node moves the bytes.
type Handler struct {
	Node NodeStreams
}

// Connect serves subresource (log, exec, attach, portforward) of obj. An
// error comes back before anything is written, for the API server to
// answer with.
func (h Handler) Connect(w http.ResponseWriter, r *http.Request, obj runtime.Object, c registry.ConnectRequest) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("stored pod is a %T", obj))
	}
	subresource := c.Subresource
	if subresource == "proxy" {
		return proxy(w, r, pod, c)
	}
	if r.Method != http.MethodGet && (subresource == "log" || r.Method != http.MethodPost) {
		return apierrors.NewMethodNotSupported(corev1.Resource("pods"), strings.ToLower(r.Method))
	}
	if h.Node == nil {
		return apierrors.NewServiceUnavailable("no node agent serves pod streams")
	}
	if pod.Spec.NodeName == "" {
		return badRequestf("pod %s does not have a host assigned", pod.Name)
	}
	switch subresource {
	case "log":
		return h.serveLog(w, r, pod)
	case "exec", "attach":
		return h.serveRemoteCommand(w, r, pod, subresource)
	case "portforward":
		return h.servePortForward(w, r, pod)
	}
	return apierrors.NewNotFound(corev1.Resource("pods/"+subresource), pod.Name)
}

func badRequestf(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

func isTrue(v string) bool { return v == "1" || strings.EqualFold(v, "true") }

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

func (h Handler) serveLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) error {
	opts, err := logOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if opts.Container, err = podContainer(pod, opts.Container); err != nil {
		return err
	}
	rc, err := h.Node.ContainerLogs(r.Context(), pod, opts.Container, opts)
	if err != nil {
		return nodeError(err)
	}
	defer rc.Close()
	if isWebSocket(r) {
		// kube-apiserver serves a log over a WebSocket too (binary.k8s.io
		// or base64.binary.k8s.io frames); the handshake answers its
		// own failures.
		_ = wsstream.NewReader(rc, true, wsstream.NewDefaultReaderProtocols()).Copy(w, r)
		return nil
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w: w}
	fw.f, _ = w.(http.Flusher)
	_, _ = io.Copy(fw, rc)
	return nil
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

func (h Handler) serveRemoteCommand(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, verb string) error {
	v := r.URL.Query()
	o := commandOptions{
		command: v["command"],
		stdin:   isTrue(v.Get("stdin")), stdout: isTrue(v.Get("stdout")), stderr: isTrue(v.Get("stderr")),
		tty: isTrue(v.Get("tty")),
	}
	var err error
	if o.container, err = podContainer(pod, v.Get("container")); err != nil {
		return err
	}
	if verb == "exec" && len(o.command) == 0 {
		return badRequestf("you must specify at least 1 command")
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return badRequestf("you must specify at least 1 of stdin, stdout, stderr")
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		what := "exec into"
		if verb == "attach" {
			what = "attach to"
		}
		return badRequestf("cannot %s a container in a completed pod; current phase is %s", what, pod.Status.Phase)
	}
	run := func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error {
		if verb == "attach" {
			return h.Node.Attach(ctx, pod, o.container, stdin, stdout, stderr, o.tty, resize)
		}
		return h.Node.Exec(ctx, pod, o.container, o.command, stdin, stdout, stderr, o.tty, resize)
	}
	switch {
	case isWebSocket(r):
		serveWebSocketCommand(w, r, o, run)
	case isSPDY(r):
		serveSPDYCommand(w, r, o, run)
	default:
		return badRequestf("%s requires a WebSocket or SPDY/3.1 upgrade", verb)
	}
	return nil
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func isSPDY(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Upgrade")), "spdy/")
}
