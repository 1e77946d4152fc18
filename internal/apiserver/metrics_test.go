package apiserver

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"peapod/internal/testenv"
)

// scrape reads /metrics as client and parses it as Prometheus does.
func scrape(t *testing.T, client kubernetes.Interface) testenv.Metrics {
	t.Helper()
	b, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	m, err := testenv.ParseMetrics(b)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return m
}

// The API's requests are counted and timed under kube-apiserver's names
// and labels, by upstream's code.
func TestServer_RequestMetrics(t *testing.T) {
	_, admin := startServer(t)
	ctx := context.Background()
	// Secrets: nothing in the process (a controller of this or an earlier
	// test's server) writes them, and the metrics are the process's.
	created := map[string]string{"verb": "POST", "resource": "secrets", "scope": "resource", "code": "201", "component": "apiserver"}
	missing := map[string]string{"verb": "GET", "resource": "secrets", "scope": "resource", "code": "404"}
	listed := map[string]string{"verb": "LIST", "resource": "secrets", "scope": "namespace", "code": "200"}
	before := scrape(t, admin)
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "m"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets("default").Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get absent: %v", err)
	}
	if _, err := admin.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	after := scrape(t, admin)
	for _, tc := range []struct {
		family string
		labels map[string]string
	}{
		{"apiserver_request_total", created},
		{"apiserver_request_total", missing},
		{"apiserver_request_total", listed},
		{"apiserver_request_duration_seconds", map[string]string{"verb": "POST", "resource": "secrets"}},
	} {
		if d := after.Sample(tc.family, tc.labels) - before.Sample(tc.family, tc.labels); d != 1 {
			t.Errorf("%s%v grew by %v, want 1", tc.family, tc.labels, d)
		}
	}
	if after["go_goroutines"] == nil || after["process_resident_memory_bytes"] == nil {
		t.Errorf("no Go or process metrics")
	}
}
