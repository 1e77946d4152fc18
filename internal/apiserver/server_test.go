package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"peapod/internal/controlplane"
	"peapod/internal/registry"
	"peapod/internal/satoken"
	"peapod/internal/store"
)

// startServer runs a Server on a free loopback port with temp dirs.
func startServer(t *testing.T) (*Server, *kubernetes.Clientset) {
	t.Helper()
	return startServerHistory(t, 0)
}

// startServerHistory keeps only history watch events (0: the default).
func startServerHistory(t *testing.T, history int) (*Server, *kubernetes.Clientset) {
	t.Helper()
	return startServerWith(t, history, nil)
}

// startServerWith starts a server that signs and accepts service-account
// tokens with tokens (nil: no tokens).
func startServerWith(t *testing.T, history int, tokens *satoken.Keys) (*Server, *kubernetes.Clientset) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(dir, "db"), store.BoltOptions{History: history, Scheme: registry.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Resources: registry.Resources(registry.DefaultServiceAllocator(), nil), PKIDir: filepath.Join(dir, "pki"), Listen: "127.0.0.1:0", BookmarkInterval: 200 * time.Millisecond}
	if tokens != nil {
		cfg.Resources, cfg.Tokens = registry.Resources(registry.DefaultServiceAllocator(), tokens), tokens
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
		st.Close()
	})
	cs, err := kubernetes.NewForConfig(srv.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	startControlPlane(t, ctx, srv, cs)
	return srv, cs
}

// startControlPlane bootstraps the cluster's objects and runs the
// namespace controller against srv, as serve does.
func startControlPlane(t *testing.T, ctx context.Context, srv *Server, cs *kubernetes.Clientset) {
	t.Helper()
	api, err := controlplane.APIAt(srv.URL(), netip.MustParseAddr("10.88.0.1"), registry.DefaultServiceAllocator().KubernetesIP())
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.Bootstrap(ctx, cs, api); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(srv.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	inf := informers.NewSharedInformerFactory(cs, 0)
	ns := controlplane.NewNamespaces(cs, dyn, inf, srv.LoopbackConfig().CAData)
	inf.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ns.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		inf.Shutdown()
	})
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServer_AnonymousIsUnauthorized(t *testing.T) {
	srv, _ := startServer(t)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(srv.URL() + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st metav1.Status
	json.NewDecoder(resp.Body).Decode(&st)
	if resp.StatusCode != 401 || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized {
		t.Fatalf("got %d %+v", resp.StatusCode, st)
	}
	resp, err = c.Get(srv.URL() + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/version: %d", resp.StatusCode)
	}
}

func TestServer_CRUDSelectorsPaging(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	for _, n := range []string{"a", "b", "c"} {
		p := testPod(n)
		if n == "b" {
			p.Spec.NodeName = "node1"
		}
		// client-go sends protobuf bodies.
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := pods.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || got.Status.Phase != corev1.PodPending || got.Spec.RestartPolicy != corev1.RestartPolicyAlways || len(got.ManagedFields) == 0 {
		t.Fatalf("create did not stamp/default: %+v", got)
	}
	if _, err := pods.Create(ctx, testPod("a"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate: %v", err)
	}
	for sel, want := range map[[2]string]int{
		{"app=a", ""}:                    1,
		{"app in (a,b)", ""}:             2,
		{"", "spec.nodeName=node1"}:      1,
		{"", "status.phase!=Running"}:    3,
		{"", "metadata.name=c"}:          1,
		{"app!=a", "metadata.name!=b"}:   1,
		{"", "metadata.namespace=other"}: 0,
	} {
		l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel[0], FieldSelector: sel[1]})
		if err != nil || len(l.Items) != want {
			t.Errorf("%v: %v, %d items, want %d", sel, err, len(l.Items), want)
		}
	}
	if _, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.bogus") {
		t.Fatalf("unsupported field: %v", err)
	}
	var names []string
	opts := metav1.ListOptions{Limit: 2}
	for {
		l, err := pods.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("paging: %v", names)
	}
	// One name, read from its key on: a name it is a prefix of is not it.
	if _, err := pods.Create(ctx, testPod("ab"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"default", ""} {
		for name, want := range map[string]string{"a": "a", "ab": "ab", "nosuch": ""} {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			var got []string
			for _, p := range l.Items {
				got = append(got, p.Name)
			}
			if err != nil || strings.Join(got, ",") != want {
				t.Errorf("namespace %q, metadata.name=%s: %v, %v; want [%s]", ns, name, got, err, want)
			}
		}
	}
	if _, err := pods.Get(ctx, "nosuch", metav1.GetOptions{}); !apierrors.IsNotFound(err) || err.Error() != `pods "nosuch" not found` {
		t.Fatalf("not found: %v", err)
	}
	// Stale update: 409 with the API server's text.
	got.ResourceVersion = "1"
	got.Labels["x"] = "y"
	if _, err := pods.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified") {
		t.Fatalf("conflict: %v", err)
	}
	// Invalid objects are 422 with field paths.
	bad := testPod("bad")
	bad.Spec.Containers = nil
	if _, err := pods.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.containers") {
		t.Fatalf("invalid: %v", err)
	}
	// Objects go only into namespaces that exist.
	if _, err := cs.CoreV1().ConfigMaps("nosuch").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("missing namespace: %v", err)
	}
	// generateName and dry run.
	gp := testPod("")
	gp.GenerateName = "gen-"
	out, err := pods.Create(ctx, gp, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || !strings.HasPrefix(out.Name, "gen-") || len(out.Name) != 9 {
		t.Fatalf("generateName: %v %q", err, out.Name)
	}
	if _, err := pods.Get(ctx, out.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run stored: %v", err)
	}
	// A collection of one name, deleted from that key on: only it goes.
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "metadata.name=a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "ab", metav1.GetOptions{}); err != nil {
		t.Errorf("deleting the collection of name a took ab too: %v", err)
	}
	if a, err := pods.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || a.DeletionTimestamp == nil) {
		t.Errorf("the collection of name a: a is still there (%v)", err)
	}
	// A collection's delete answers, as kube-apiserver's, with the list
	// of what it deleted.
	var coll []string
	for i := range 12 {
		p := testPod(fmt.Sprintf("coll-%02d", i))
		p.Labels = map[string]string{"set": "coll"}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		coll = append(coll, p.Name)
	}
	answer, err := cs.CoreV1().RESTClient().Delete().Namespace("default").Resource("pods").Param("labelSelector", "set=coll").Do(ctx).Get()
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := answer.(*corev1.PodList)
	if !ok {
		t.Fatalf("delete collection answered %T, want a PodList", answer)
	}
	var deleted []string
	for _, p := range pl.Items {
		deleted = append(deleted, p.Name)
	}
	if !slices.Equal(deleted, coll) || pl.ResourceVersion == "" {
		t.Errorf("delete collection answered %v at rv %q, want %v", deleted, pl.ResourceVersion, coll)
	}
	for _, n := range coll {
		if p, err := pods.Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || p.DeletionTimestamp == nil) {
			t.Errorf("%s is still there (%v)", n, err)
		}
	}
}

func TestServer_StatusSubresource(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	p, _ := pods.Create(ctx, testPod("s"), metav1.CreateOptions{})
	p.Status.Phase = corev1.PodRunning
	p.Spec.Containers[0].Image = "busybox:2"
	// The main resource ignores status.
	p, err := pods.Update(ctx, p, metav1.UpdateOptions{})
	if err != nil || p.Status.Phase != corev1.PodPending || p.Spec.Containers[0].Image != "busybox:2" {
		t.Fatalf("update: %v %v", err, p.Status.Phase)
	}
	// /status changes only status; the node agent patches it with a uid precondition.
	patch := `{"metadata":{"uid":"` + string(p.UID) + `"},"status":{"phase":"Running"},"spec":{"nodeName":"x"}}`
	p, err = pods.Patch(ctx, "s", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil || p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != "" {
		t.Fatalf("status patch: %v %+v", err, p.Status)
	}
	bad := `{"metadata":{"uid":"other"},"status":{"phase":"Failed"}}`
	if _, err := pods.Patch(ctx, "s", types.StrategicMergePatchType, []byte(bad), metav1.PatchOptions{}, "status"); !apierrors.IsConflict(err) {
		t.Fatalf("uid precondition: %v", err)
	}
}

func TestServer_Patches(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	for _, tc := range []struct {
		pt    types.PatchType
		patch string
		key   string
	}{
		{types.MergePatchType, `{"data":{"m":"1"}}`, "m"},
		{types.JSONPatchType, `[{"op":"add","path":"/data/j","value":"1"}]`, "j"},
		{types.StrategicMergePatchType, `{"data":{"s":"1"}}`, "s"},
	} {
		cm, err := cms.Patch(ctx, "p", tc.pt, []byte(tc.patch), metav1.PatchOptions{})
		if err != nil || cm.Data[tc.key] != "1" || cm.Data["a"] != "1" {
			t.Fatalf("%s: %v %v", tc.pt, err, cm.Data)
		}
	}
	if _, err := cms.Patch(ctx, "p", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/a","value":"2"}]`), metav1.PatchOptions{}); err == nil || apierrors.ReasonForError(err) != metav1.StatusReasonInvalid && apierrors.ReasonForError(err) != "" {
		t.Fatalf("failed test op: %v", err)
	}
	if _, err := cms.Patch(ctx, "p", types.MergePatchType, []byte(`{"bogus":1}`), metav1.PatchOptions{FieldValidation: "Strict"}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "bogus"`) {
		t.Fatalf("strict: %v", err)
	}
	if _, err := cms.Patch(ctx, "p", types.MergePatchType, []byte(`{`), metav1.PatchOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestServer_ServerSideApply(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	ac := corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"k": "a"})
	cm, err := cms.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "one"})
	if err != nil || cm.Data["k"] != "a" || len(cm.ManagedFields) != 1 || cm.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("apply create: %v %+v", err, cm)
	}
	_, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"k": "b"}), metav1.ApplyOptions{FieldManager: "two"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("expected conflict: %v", err)
	}
	causes := err.(apierrors.APIStatus).Status().Details.Causes
	if len(causes) != 1 || causes[0].Type != metav1.CauseTypeFieldManagerConflict || causes[0].Field != ".data.k" {
		t.Fatalf("causes: %+v", causes)
	}
	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"k": "b"}), metav1.ApplyOptions{FieldManager: "two", Force: true})
	if err != nil || cm.Data["k"] != "b" {
		t.Fatalf("force: %v", err)
	}
}

// bootstrapped waits until the namespace controller has given the four
// system namespaces their default ServiceAccount and kube-root-ca.crt: the
// server writes nothing more on its own after that.
func bootstrapped(t *testing.T, cs *kubernetes.Clientset) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		sas, err1 := cs.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=default"})
		cms, err2 := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
		if err1 == nil && err2 == nil && len(sas.Items) == 4 && len(cms.Items) == 4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's own objects are not all there: %v %v", err1, err2)
		}
	}
}

func TestServer_WatchAndBookmarks(t *testing.T) {
	_, cs := startServerHistory(t, 5)
	// A history of 5 revisions: the watch below must start after the
	// server's own writes, or its revision is already too old (410).
	bootstrapped(t, cs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := cs.CoreV1().Pods("default")
	l, _ := pods.List(ctx, metav1.ListOptions{})
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true, FieldSelector: "metadata.name=w"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pods.Create(ctx, testPod("other"), metav1.CreateOptions{})
	pods.Create(ctx, testPod("w"), metav1.CreateOptions{})
	pods.Delete(ctx, "w", metav1.DeleteOptions{})
	var types []watch.EventType
	for ev := range w.ResultChan() {
		types = append(types, ev.Type)
		if ev.Type == watch.Bookmark {
			break
		}
		if ev.Type == watch.Deleted && ev.Object.(*corev1.Pod).Name != "w" {
			t.Fatalf("selector leak: %v", ev.Object)
		}
	}
	if len(types) != 3 || types[0] != watch.Added || types[1] != watch.Deleted || types[2] != watch.Bookmark {
		t.Fatalf("events: %v", types)
	}
	// Too old: the watch ends with a 410 ERROR event.
	w2, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-w2.ResultChan()
	if st, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || st.Code != 410 {
		t.Fatalf("410: %v %v", ev.Type, ev.Object)
	}
}

func TestServer_TableAndDiscovery(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	cs.CoreV1().Pods("default").Create(ctx, testPod("t"), metav1.CreateOptions{})
	rc := cs.CoreV1().RESTClient()
	data, err := rc.Get().AbsPath("/api/v1/namespaces/default/pods").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tbl metav1.Table
	json.Unmarshal(data, &tbl)
	if tbl.Kind != "Table" || len(tbl.ColumnDefinitions) < 5 || tbl.ColumnDefinitions[0].Name != "Name" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "t" || tbl.Rows[0].Cells[2] != "Pending" {
		t.Fatalf("table: %s", data)
	}
	if !strings.Contains(string(tbl.Rows[0].Object.Raw), `"kind":"PartialObjectMetadata"`) {
		t.Fatalf("row object: %s", tbl.Rows[0].Object.Raw)
	}
	groups, resources, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) < 2 || len(resources) < 2 {
		t.Fatalf("discovery: %d groups, %d resource lists", len(groups), len(resources))
	}
	resp, err := rc.Get().AbsPath("/openapi/v3").DoRaw(ctx)
	if err != nil || !strings.Contains(string(resp), "/openapi/v3/api/v1?hash=") {
		t.Fatalf("openapi: %v %s", err, resp)
	}
	if _, err := rc.Get().AbsPath("/api/v1/bogus").DoRaw(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("unknown resource: %v", err)
	}
}

func TestServer_PodGracefulDeletionAndNamespaces(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "default ServiceAccount and kube-root-ca.crt", func() bool {
		_, e1 := cs.CoreV1().ServiceAccounts("n").Get(ctx, "default", metav1.GetOptions{})
		cm, e2 := cs.CoreV1().ConfigMaps("n").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return e1 == nil && e2 == nil && strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE")
	})
	pods := cs.CoreV1().Pods("n")
	bound := testPod("bound")
	bound.Spec.NodeName = "node1"
	pods.Create(ctx, bound, metav1.CreateOptions{})
	pods.Create(ctx, testPod("unbound"), metav1.CreateOptions{})
	if err := pods.Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unbound pod not removed at once: %v", err)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful: %v %+v", err, p.ObjectMeta)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "n", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "n", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("terminating: %v %v", err, ns.Status.Phase)
	}
	if _, err := cs.CoreV1().ConfigMaps("n").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create in terminating namespace: %v", err)
	}
	// The node agent's part: delete with grace 0 once stopped.
	zero := int64(0)
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace removed", func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "n", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if err := cs.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("default namespace: %v", err)
	}
}

func TestServer_StrictBodyAndWarnings(t *testing.T) {
	srv, _ := startServer(t)
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"bogus":1}`
	do := func(validation string) *http.Response {
		hc, _ := httpClient(srv)
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/v1/namespaces/default/configmaps?fieldValidation="+validation, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := do("Strict"); resp.StatusCode != 400 {
		t.Fatalf("strict: %d", resp.StatusCode)
	}
	if resp := do("Warn"); resp.StatusCode != 201 || !strings.Contains(resp.Header.Get("Warning"), `unknown field \"bogus\"`) {
		t.Fatalf("warn: %d %q", resp.StatusCode, resp.Header.Get("Warning"))
	}
}

func httpClient(srv *Server) (*http.Client, error) {
	return rest.HTTPClientFor(srv.LoopbackConfig())
}

func TestServer_Binding(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	pods.Create(ctx, testPod("b"), metav1.CreateOptions{})
	bind := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := pods.Get(ctx, "b", metav1.GetOptions{}); p.Spec.NodeName != "node1" {
		t.Fatalf("nodeName %q", p.Spec.NodeName)
	}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `already assigned to node "node1"`) {
		t.Fatalf("second bind: %v", err)
	}
}
