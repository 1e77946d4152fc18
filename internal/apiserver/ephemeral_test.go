package apiserver

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What kubectl debug sends: a strategic merge patch of
// pods/NAME/ephemeralcontainers.
func TestServer_EphemeralContainers(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, testPod("e"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := `{"metadata":{"labels":{"x":"y"}},"spec":{"containers":[{"name":"c","image":"other"}],"ephemeralContainers":[{"name":"debugger-1","image":"busybox:1.36","command":["sh"],"stdin":true,"tty":true,"targetContainerName":"c"}]}}`
	p, err := pods.Patch(ctx, "e", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].ImagePullPolicy != corev1.PullIfNotPresent ||
		p.Spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("ephemeral containers (defaulted): %+v", p.Spec.EphemeralContainers)
	}
	if p.Labels["x"] != "" || p.Spec.Containers[0].Image != "busybox" {
		t.Errorf("the subresource changed more than spec.ephemeralContainers: %v %s", p.Labels, p.Spec.Containers[0].Image)
	}
	got, err := cs.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("e").SubResource("ephemeralcontainers").Do(ctx).Get()
	if gp, ok := got.(*corev1.Pod); err != nil || !ok || len(gp.Spec.EphemeralContainers) != 1 {
		t.Errorf("GET ephemeralcontainers: %v %T", err, got)
	}

	// The main resource neither adds nor removes them: kube-apiserver
	// refuses such an update (spec: Forbidden).
	p.Spec.EphemeralContainers = nil
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Forbidden: pod updates may not change fields") {
		t.Errorf("update of the main resource without the ephemeral containers: %v, want Invalid", err)
	}

	for _, tc := range []struct{ patch, want string }{
		{`{"spec":{"ephemeralContainers":[{"name":"c","image":"busybox"}]}}`, `].name: Duplicate value: "c"`},
		{`{"spec":{"ephemeralContainers":[{"name":"d2","image":"busybox","ports":[{"containerPort":80}]}]}}`, "].ports: Forbidden: cannot be set for an Ephemeral Container"},
		{`{"spec":{"ephemeralContainers":[{"name":"d2","image":"busybox","readinessProbe":{"exec":{"command":["true"]}}}]}}`, "].readinessProbe: Forbidden"},
		{`{"spec":{"ephemeralContainers":[{"name":"d2","image":"busybox","resources":{"limits":{"cpu":"1"}}}]}}`, "].resources: Forbidden"},
		{`{"spec":{"ephemeralContainers":[{"name":"d2","image":"busybox","targetContainerName":"nope"}]}}`, `].targetContainerName: Not found: "nope"`},
		{`{"spec":{"ephemeralContainers":[{"name":"debugger-1","image":"other"}]}}`, `existing ephemeral containers "debugger-1" may not be changed`},
		{`{"spec":{"ephemeralContainers":[{"$patch":"delete","name":"debugger-1"}]}}`, "may not be removed"},
	} {
		_, err := pods.Patch(ctx, "e", types.StrategicMergePatchType, []byte(tc.patch), metav1.PatchOptions{}, "ephemeralcontainers")
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.patch, err, tc.want)
		}
	}
	// Neither POST nor DELETE.
	if err := cs.CoreV1().RESTClient().Delete().Namespace("default").Resource("pods").Name("e").SubResource("ephemeralcontainers").Do(ctx).Error(); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("DELETE ephemeralcontainers: %v", err)
	}
}
