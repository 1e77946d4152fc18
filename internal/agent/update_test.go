package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// What a running pod takes from an update: labels and annotations (the
// downward API shows them), activeDeadlineSeconds, ephemeral containers;
// nothing else reaches the worker.
func TestMutableChanged(t *testing.T) {
	base := func() *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	five := int64(5)
	for _, tc := range []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{"nothing", func(*corev1.Pod) {}, false},
		{"a label", func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }, true},
		{"an annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": "b"} }, true},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &five }, true},
		{"an ephemeral container", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d"}}}
		}, true},
		{"the status alone", func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }, false},
	} {
		p := base()
		tc.change(p)
		if got := mutableChanged(base(), p); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
