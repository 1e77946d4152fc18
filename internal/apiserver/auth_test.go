package apiserver

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"peapod/internal/satoken"
)

// TestServer_ServiceAccountTokens: a pod-bound token from
// serviceaccounts/token authenticates its account, which may read in its
// namespace but not secrets, other namespaces or pod subresources; the
// token stops working when its pod goes.
func TestServer_ServiceAccountTokens(t *testing.T) {
	keys, err := satoken.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, admin := startServerWith(t, 0, keys)
	ctx := context.Background()
	pod, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Fatalf("admission: serviceAccountName %q, volumes %+v", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
	}
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" || tr.Status.ExpirationTimestamp.Sub(tr.CreationTimestamp.Time).Seconds() != 3600 {
		t.Fatalf("token request status %+v", tr.Status)
	}
	cfg := rest.AnonymousClientConfig(srv.LoopbackConfig())
	cfg.BearerToken = tr.Status.Token
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil {
		t.Errorf("get endpoints in its namespace: %v", err)
	}
	if _, err := sa.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list pods in its namespace: %v", err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"secrets", func() error { _, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); return err },
			`secrets is forbidden: User "system:serviceaccount:default:default" cannot list resource "secrets" in API group "" in the namespace "default"`},
		{"another namespace", func() error {
			_, err := sa.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err
		}, `configmaps "kube-root-ca.crt" is forbidden: User "system:serviceaccount:default:default" cannot get resource "configmaps" in API group "" in the namespace "kube-system"`},
		{"a write", func() error { return sa.CoreV1().Pods("default").Delete(ctx, "app", metav1.DeleteOptions{}) },
			`pods "app" is forbidden: User "system:serviceaccount:default:default" cannot delete resource "pods" in API group "" in the namespace "default"`},
		{"cluster-scoped", func() error { _, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); return err },
			`nodes is forbidden: User "system:serviceaccount:default:default" cannot list resource "nodes" in API group "" at the cluster scope`},
		{"profiles", func() error { return sa.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/cmdline").Do(ctx).Error() },
			`forbidden: User "system:serviceaccount:default:default" cannot get path "/debug/pprof/cmdline"`},
		{"metrics", func() error { return sa.CoreV1().RESTClient().Get().AbsPath("/metrics").Do(ctx).Error() },
			`forbidden: User "system:serviceaccount:default:default" cannot get path "/metrics"`},
	} {
		if err := tc.do(); !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("%s: %v, want Forbidden %q", tc.name, err, tc.want)
		}
	}
	// The admin reads profiles, as from kube-apiserver with --profiling.
	if b, err := admin.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/cmdline").DoRaw(ctx); err != nil || len(b) == 0 {
		t.Errorf("admin: /debug/pprof/cmdline: %q, %v", b, err)
	}
	// A forged token is not anyone.
	cfg.BearerToken = tr.Status.Token[:len(tr.Status.Token)-4] + "AAAA"
	forged, _ := kubernetes.NewForConfig(cfg)
	if _, err := forged.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("forged token: %v, want Unauthorized", err)
	}
	// The pod is gone: its token is too.
	zero := int64(0)
	if err := admin.CoreV1().Pods("default").Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("token of a deleted pod: %v, want Unauthorized", err)
	}
}
