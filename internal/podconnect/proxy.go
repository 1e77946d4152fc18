package podconnect

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"peapod/internal/registry"
)

// proxy is pods/proxy: the request goes on to the pod's IP, as
// kube-apiserver's pod proxy sends it (the URL name's scheme, http by
// default, and port, none by default; the path after proxy/), and the
// pod's answer comes back whole. Pod IPs are on the node's own bridge.
// Without a port in the name it is the pod's first container port.
func proxy(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, c registry.ConnectRequest) error {
	if pod.Status.PodIP == "" {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no IP yet", pod.Name))
	}
	scheme := c.Scheme
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return badRequestf("invalid scheme %q", scheme)
	}
	// No port named: the first container port, as kube-apiserver's pod
	// ResourceLocation picks it.
	port := c.Port
	for i := 0; port == "" && i < len(pod.Spec.Containers); i++ {
		if ports := pod.Spec.Containers[i].Ports; len(ports) > 0 {
			port = strconv.Itoa(int(ports[0].ContainerPort))
		}
	}
	host := pod.Status.PodIP
	if port != "" {
		host = net.JoinHostPort(host, port)
	}
	target := &url.URL{Scheme: scheme, Host: host, Path: c.Path, RawQuery: r.URL.RawQuery}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = host
			// The API's credentials are not the pod's business.
			pr.Out.Header.Del("Authorization")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			st := apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)).Status()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(int(st.Code))
			fmt.Fprint(w, st.Message)
		},
	}
	rp.ServeHTTP(w, r)
	return nil
}
