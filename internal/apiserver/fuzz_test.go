package apiserver

import (
	"net/http/httptest"
	"net/url"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/registry"
)

func fuzzServer(t testing.TB) *Server {
	srv, err := New(Config{Resources: registry.Resources(registry.DefaultServiceAllocator(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// FuzzPatch feeds patch bodies of every type to the patch path of a pod:
// errors are fine, panics are not.
func FuzzPatch(f *testing.F) {
	f.Add(uint8(0), []byte(`[{"op":"add","path":"/metadata/labels/a","value":"b"}]`))
	f.Add(uint8(1), []byte(`{"metadata":{"labels":{"a":null}},"spec":{"containers":null}}`))
	f.Add(uint8(2), []byte(`{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"name":"c","$patch":"delete"}]}}`))
	f.Add(uint8(2), []byte(`{"spec":{"containers":[{"name":"c","ports":[{"$retainKeys":["x"]}]}]}}`))
	f.Add(uint8(0), []byte(`[{"op":"move","from":"/spec","path":"/spec/x"}]`))
	srv := fuzzServer(f)
	res := srv.byGVR[corev1.SchemeGroupVersion.WithResource("pods")]
	pts := []types.PatchType{types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		cur := testPod("web")
		patched, err := applyPatch(pts[int(kind)%len(pts)], cur, body, res)
		if err != nil {
			return
		}
		srv.decodeJSON(patched, res)
	})
}

// FuzzSelectors parses label and field selectors as a list request does.
func FuzzSelectors(f *testing.F) {
	f.Add("app=web,tier!=x", "metadata.name=a,status.phase!=Running")
	f.Add("app in (a,b),!x", "spec.nodeName==n")
	f.Add("a notin (", "=")
	srv := fuzzServer(f)
	res := srv.byGVR[corev1.SchemeGroupVersion.WithResource("pods")]
	f.Fuzz(func(t *testing.T, ls, fs string) {
		req := httptest.NewRequest("GET", "/api/v1/pods?labelSelector="+url.QueryEscape(ls)+"&fieldSelector="+url.QueryEscape(fs), nil)
		pred, _, err := srv.selectors(req, res)
		if err == nil && pred != nil {
			pred(testPod("web"))
		}
	})
}
