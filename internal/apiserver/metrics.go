package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	endpointsmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	genericrequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-base/metrics/legacyregistry"
)

// The process's metrics (the API server's requests, the node agent's,
// Go's and the process's) are served at /metrics in the Prometheus text
// format, as kube-apiserver and the kubelet serve theirs. The request
// metrics are upstream's (apiserver_request_total,
// apiserver_request_duration_seconds, ...), recorded by upstream's code
// and registered by New (not at init: `peapod up` links this package).

var requestInfos = &genericrequest.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// instrumented runs serve for a resource request and records it in the
// request metrics, labelled as kube-apiserver labels it.
func instrumented(w http.ResponseWriter, r *http.Request, serve http.HandlerFunc) {
	info, err := requestInfos.NewRequestInfo(r)
	if err != nil || !info.IsResourceRequest {
		serve(w, r)
		return
	}
	r = r.WithContext(genericrequest.WithRequestInfo(r.Context(), info))
	endpointsmetrics.InstrumentHandlerFunc(strings.ToUpper(info.Verb), info.APIGroup, info.APIVersion,
		info.Resource, info.Subresource, endpointsmetrics.CleanScope(info), "apiserver", false, "", serve)(w, r)
}

// serveMetrics serves the registry to the admin and to the
// system:monitoring group (kube-apiserver's RBAC grants /metrics to it).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.allowNonResource(w, r, user.MonitoringGroup) {
		legacyregistry.Handler().ServeHTTP(w, r)
	}
}
