package apiserver

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The scale subresource reads and writes spec.replicas through an
// autoscaling/v1 Scale, as kubectl scale uses it (GET, PUT, merge PATCH).
func TestServer_ScaleSubresource(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	bootstrapped(t, cs)
	app := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: app}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: app},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}},
	}
	deps := cs.AppsV1().Deployments("default")
	created, err := deps.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || *created.Spec.Replicas != 1 {
		t.Fatalf("created: generation %d replicas %d", created.Generation, *created.Spec.Replicas)
	}
	s, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Replicas != 1 || s.Status.Selector != "app=web" || s.ResourceVersion != created.ResourceVersion {
		t.Fatalf("scale %+v", s)
	}
	s.Spec.Replicas = 3
	if _, err := deps.UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The old resourceVersion is a precondition: a second write with it conflicts.
	if _, err := deps.UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale scale write: %v, want Conflict", err)
	}
	res := cs.AppsV1().RESTClient().Patch(types.MergePatchType).Namespace("default").Resource("deployments").Name("web").SubResource("scale").
		Body([]byte(`{"spec":{"replicas":5}}`)).Do(ctx)
	var patched autoscalingv1.Scale
	if err := res.Into(&patched); err != nil || patched.Spec.Replicas != 5 {
		t.Fatalf("patch scale: %v %+v", err, patched)
	}
	got, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 5 || got.Generation != 3 {
		t.Fatalf("deployment after scaling: replicas %d generation %d", *got.Spec.Replicas, got.Generation)
	}
	s.Spec.Replicas = -1
	s.ResourceVersion = ""
	if _, err := deps.UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("negative scale: %v, want Invalid", err)
	}
	// Discovery names the subresource's kind, as kubectl's scale client needs.
	list, err := cs.Discovery().ServerResourcesForGroupVersion("apps/v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range list.APIResources {
		if r.Name == "deployments/scale" && r.Group == "autoscaling" && r.Version == "v1" && r.Kind == "Scale" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no deployments/scale in %+v", list.APIResources)
	}
}
