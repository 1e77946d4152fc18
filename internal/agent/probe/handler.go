// Package probe runs container probes and lifecycle hook handlers from the
// node, as the kubelet's prober and lifecycle packages do: exec inside the
// container through the runtime; httpGet, tcpSocket and grpc dialled by
// the node to the pod IP (or, for a pod without one, from a socket made in
// its network namespace), so images need no curl or nc. Manager runs each
// probe of a running container on its own timer and keeps the results the
// agent plans with.
package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"peapod/internal/runtime"
)

// userAgent is what the kubelet of the API version peapod speaks sends.
const userAgent = "kube-probe/1.32"

// maxBody caps what is read of an HTTP response, and kept of exec output.
const maxBody = 10 << 10

// Target is the container a handler acts on.
type Target struct {
	Runtime     runtime.Runtime
	ContainerID string
	// NetNS is the network namespace network handlers dial from: ""
	// for the node's, where the kubelet's dial from.
	NetNS string
	// Host is the default host of httpGet/tcpSocket/grpc: the pod IP;
	// "" means 127.0.0.1 (of NetNS).
	Host  string
	Ports []corev1.ContainerPort
	// Container and the pod's name, namespace and UID name the target in
	// hook error messages and probe metrics, as the kubelet's.
	Container, PodName, PodNamespace, PodUID string
}

// pod is the kubelet's name of the target's pod in messages.
func (t Target) pod() string { return fmt.Sprintf("%s_%s(%s)", t.PodName, t.PodNamespace, t.PodUID) }

// Result is the outcome of one run of a handler.
type Result int8

const (
	Success Result = iota
	// Warning is a success with something to report (an HTTP redirect to
	// another host that was not followed).
	Warning
	Failure
)

// Run runs a probe's handler once within timeout and returns its result and
// output. An error means the probe could not be run at all (an unknown port
// name, a gone container): the kubelet ignores such a run.
func Run(ctx context.Context, t Target, h *corev1.ProbeHandler, timeout time.Duration) (Result, string, error) {
	switch {
	case h.Exec != nil:
		return runExec(ctx, t, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		return runHTTP(ctx, t, h.HTTPGet, timeout)
	case h.TCPSocket != nil:
		return runTCP(ctx, t, h.TCPSocket, timeout)
	case h.GRPC != nil:
		return runGRPC(ctx, t, h.GRPC, timeout)
	}
	return Failure, "", errors.New("missing probe handler")
}

func runExec(ctx context.Context, t Target, cmd []string, timeout time.Duration) (Result, string, error) {
	var out cappedBuffer
	code, err := t.Runtime.Exec(ctx, runtime.ExecRequest{ID: t.ContainerID, Cmd: cmd, Stdout: &out, Stderr: &out, Timeout: timeout})
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	case err != nil:
		return Failure, "", err
	case code != 0:
		return Failure, out.String(), nil
	}
	return Success, out.String(), nil
}

func runHTTP(ctx context.Context, t Target, get *corev1.HTTPGetAction, timeout time.Duration) (Result, string, error) {
	req, err := t.httpRequest(ctx, get)
	if err != nil {
		return Failure, "", err
	}
	client := t.httpClient(timeout)
	client.CheckRedirect = sameHostRedirects
	res, err := client.Do(req)
	if err != nil {
		return Failure, err.Error(), nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return Failure, err.Error(), nil
	}
	body := string(b)
	switch {
	case res.StatusCode >= 300 && res.StatusCode < 400:
		// Only a redirect to another host stops here (see
		// sameHostRedirects): the kubelet counts it as a success.
		return Warning, "Probe terminated redirects, Response body: " + body, nil
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return Success, body, nil
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// sameHostRedirects follows redirects to the same host only, as the
// kubelet does for probes.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// httpRequest builds the kubelet's GET: URL from scheme, host (default
// the pod IP), port and path; httpHeaders; a kube-probe User-Agent and
// Accept: */* unless overridden.
func (t Target) httpRequest(ctx context.Context, get *corev1.HTTPGetAction) (*http.Request, error) {
	port, err := t.port(get.Port)
	if err != nil {
		return nil, err
	}
	host := get.Host
	if host == "" {
		host = t.host()
	}
	u, err := url.Parse(get.Path)
	if err != nil {
		u = &url.URL{Path: get.Path}
	}
	u.Scheme = "http"
	if get.Scheme == corev1.URISchemeHTTPS {
		u.Scheme = "https"
	}
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range get.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	return req, nil
}

// httpClient dials as t says (dial) and does not verify certificates, as
// the kubelet's probes and hooks. timeout 0 means none beyond ctx.
func (t Target) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       t.dial,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: probe targets are not verified
			DisableKeepAlives: true,
		},
	}
}

func runTCP(ctx context.Context, t Target, s *corev1.TCPSocketAction, timeout time.Duration) (Result, string, error) {
	port, err := t.port(s.Port)
	if err != nil {
		return Failure, "", err
	}
	host := s.Host
	if host == "" {
		host = t.host()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := t.dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error(), nil
	}
	_ = conn.Close()
	return Success, "", nil
}

func runGRPC(ctx context.Context, t Target, g *corev1.GRPCAction, timeout time.Duration) (Result, string, error) {
	addr := net.JoinHostPort(t.host(), strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return t.dial(ctx, "tcp", addr) }),
		grpc.WithUserAgent(userAgent))
	if err != nil {
		return Failure, "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		st, _ := status.FromError(err)
		switch st.Code() {
		case codes.Unimplemented:
			return Failure, fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message()), nil
		case codes.DeadlineExceeded:
			return Failure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
		}
		return Failure, fmt.Sprintf("error: health rpc probe failed: %v", err), nil
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", res.GetStatus()), nil
	}
	return Success, "", nil
}

func (t Target) host() string {
	if t.Host == "" {
		return "127.0.0.1"
	}
	return t.Host
}

// port resolves a port number or the name of one of the container's
// ports.
func (t Target) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal < 1 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range t.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("couldn't find port: %s", p.StrVal)
}

// cappedBuffer keeps the first maxBody bytes written to it; exec's stdout
// and stderr may write at once.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxBody - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
