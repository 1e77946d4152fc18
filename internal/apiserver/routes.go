package apiserver

import (
	"fmt"
	"net/http"
	"os"
	"peapod/internal/registry"
	"runtime/debug"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// request is a parsed resource URL.
type request struct {
	res         *resource
	namespace   string
	name        string
	subresource string
	// A proxy subresource's URL name may carry a scheme and a port
	// ([scheme:]name[:port]), and its path goes on after it.
	scheme, port, path string
}

func (q *request) key() string { return q.res.key(q.namespace, q.name) }

func (r *resource) key(namespace, name string) string {
	if r.Namespaced {
		return "/" + r.Resource.Resource + "/" + namespace + "/" + name
	}
	return "/" + r.Resource.Resource + "/" + name
}

// prefix is the List/Watch prefix for a namespace ("" for all).
func (r *resource) prefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return "/" + r.Resource.Resource + "/" + namespace + "/"
	}
	return "/" + r.Resource.Resource + "/"
}

func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimSuffix(r.URL.Path, "/")
		switch {
		case p == "/version":
			s.writeJSON(w, http.StatusOK, Version)
		case p == "/healthz" || p == "/livez" || p == "/readyz" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("ok"))
		case p == "/api":
			s.serveAPI(w, r)
		case p == "/apis":
			s.serveAPIs(w, r)
		case p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/"):
			s.serveOpenAPI(w, r)
		case p == "/openapi/v2":
			s.serveOpenAPIV2(w, r)
		case p == "/debug/pprof" || strings.HasPrefix(p, "/debug/pprof/"):
			s.serveProfiling(w, r)
		case p == "/metrics":
			s.serveMetrics(w, r)
		case (p == "/timeline" || strings.HasPrefix(p, "/timeline/")) && s.cfg.Timeline != nil:
			if p == "/timeline" && !strings.HasSuffix(r.URL.Path, "/") {
				// The page's relative URLs need the slash.
				http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			} else if s.allowNonResource(w, r) {
				s.cfg.Timeline.ServeHTTP(w, r)
			}
		case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
			instrumented(w, r, func(w http.ResponseWriter, r *http.Request) {
				defer s.recoverPanic(w, r)
				s.serveResource(w, r, p)
			})
		default:
			s.writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		}
	})
}

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
	}}
}

// parse splits /api/v1/... and /apis/G/V/... into group-version and the
// resource path, and reports true for a group-version's own path.
func (s *Server) parse(p string) (metav1.GroupVersion, []string, bool, error) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var gv metav1.GroupVersion
	switch {
	case segs[0] == "api" && len(segs) >= 2:
		gv, segs = metav1.GroupVersion{Version: segs[1]}, segs[2:]
	case segs[0] == "apis" && len(segs) >= 3:
		gv, segs = metav1.GroupVersion{Group: segs[1], Version: segs[2]}, segs[3:]
	default:
		return gv, nil, false, notFoundPath()
	}
	if len(s.resourcesOf(gv)) == 0 {
		return gv, nil, false, notFoundPath()
	}
	return gv, segs, len(segs) == 0, nil
}

func (s *Server) lookup(gv metav1.GroupVersion, name string) *resource {
	return s.byGVR[schema.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: name}]
}

// resolve turns resource path segments into a request:
// [namespaces NS] RESOURCE [NAME [SUBRESOURCE]], where the scope kind's
// own subresources (namespaces/NS/status) are not a namespaced path.
func (s *Server) resolve(gv metav1.GroupVersion, segs []string) (*request, error) {
	q := &request{}
	if sc := s.scope; len(segs) >= 3 && sc != nil && segs[0] == sc.Resource.Resource {
		if own := s.lookup(gv, sc.Resource.Resource) == sc && len(segs) == 3 && contains(sc.Subresources, segs[2]); !own {
			q.namespace, segs = segs[1], segs[2:]
		}
	}
	if len(segs) == 0 {
		return nil, notFoundPath()
	}
	q.res = s.lookup(gv, segs[0])
	if q.res == nil {
		return nil, notFoundPath()
	}
	if len(segs) >= 3 && contains(q.res.Proxy, segs[2]) {
		// NAME/proxy/PATH: the path is the rest, as the client wrote it.
		q.path = "/" + strings.Join(segs[3:], "/")
		switch parts := strings.Split(segs[1], ":"); len(parts) {
		case 2:
			segs[1], q.port = parts[0], parts[1]
		case 3:
			q.scheme, segs[1], q.port = parts[0], parts[1], parts[2]
		}
		segs = segs[:3]
	}
	if len(segs) > 3 {
		return nil, notFoundPath()
	}
	if q.namespace != "" && !q.res.Namespaced {
		return nil, notFoundPath()
	}
	if len(segs) >= 2 {
		q.name = segs[1]
	}
	if len(segs) == 3 {
		q.subresource = segs[2]
		if !contains(q.res.Subresources, q.subresource) {
			return nil, notFoundPath()
		}
	}
	if q.name != "" && q.res.Namespaced && q.namespace == "" {
		return nil, notFoundPath()
	}
	return q, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, p string) {
	gv, segs, root, err := s.parse(p)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if root {
		s.serveResourceList(w, gv)
		return
	}
	q, err := s.resolve(gv, segs)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if err := authorize(r, q); err != nil {
		s.writeError(w, err)
		return
	}
	if act, ok := q.res.Actions[q.subresource]; ok && q.name != "" && r.Method == http.MethodPost {
		s.act(w, r, q, act)
		return
	}
	if req, ok := q.res.Requests[q.subresource]; ok && q.name != "" && r.Method == http.MethodPost {
		s.serveRequest(w, r, q, req)
		return
	}
	if proj, ok := q.res.Projections[q.subresource]; ok && q.name != "" {
		s.serveProjection(w, r, q, proj)
		return
	}
	// Connect subresources (log, exec, ...) belong to the node side.
	if q.name != "" && contains(q.res.Connect, q.subresource) {
		s.serveConnect(w, r, q)
		return
	}
	// A view (status, a pod's ephemeralcontainers) is the object itself,
	// of which a write may change only the part the registry's
	// PrepareForUpdate lets through.
	view := q.subresource == "status" || q.name != "" && contains(q.res.Views, q.subresource) &&
		(r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodPatch)
	if q.subresource != "" && !view {
		s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), r.Method+" "+q.subresource))
		return
	}
	collection := q.name == ""
	switch {
	case r.Method == http.MethodGet && collection && isTrue(r.URL.Query().Get("watch")):
		s.watch(w, r, q)
	case r.Method == http.MethodGet && collection:
		s.list(w, r, q)
	case r.Method == http.MethodGet:
		s.get(w, r, q)
	case r.Method == http.MethodPost && collection:
		s.create(w, r, q)
	case r.Method == http.MethodPut && !collection:
		s.update(w, r, q)
	case r.Method == http.MethodPatch && !collection:
		s.patch(w, r, q)
	case r.Method == http.MethodDelete && collection:
		s.deleteCollection(w, r, q)
	case r.Method == http.MethodDelete && q.subresource == "":
		s.delete(w, r, q)
	default:
		s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), strings.ToLower(r.Method)))
	}
}

func badRequestf(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

// serveConnect hands a Connect subresource of the stored object to
// cfg.Connect.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, q *request) {
	obj, err := s.store.Get(r.Context(), q.key())
	if err != nil {
		s.writeError(w, storeErr(q.res, q.name, err))
		return
	}
	if s.cfg.Connect == nil {
		s.writeError(w, apierrors.NewServiceUnavailable("no node serves "+q.subresource))
		return
	}
	path := q.path
	if path != "" && strings.HasSuffix(r.URL.Path, "/") && !strings.HasSuffix(path, "/") {
		path += "/" // the server's path split drops it; a proxied server may care
	}
	if err := s.cfg.Connect.Connect(w, r, obj, registry.ConnectRequest{Subresource: q.subresource, Scheme: q.scheme, Port: q.port, Path: path}); err != nil {
		s.writeError(w, err)
	}
}

// recoverPanic answers a request whose handler panicked with a 500, as
// kube-apiserver's panic filter does, and logs the stack: one bad object
// or hook must not take down the connection's other streams.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	fmt.Fprintf(os.Stderr, "peapod: API server: panic serving %s %s: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
	s.writeError(w, apierrors.NewInternalError(fmt.Errorf("%v", v)))
}
