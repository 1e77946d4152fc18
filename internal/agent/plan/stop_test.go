package plan

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestStopOrder(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := func(name string) corev1.Container { return corev1.Container{Name: name, RestartPolicy: &always} }
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "setup"}, sidecar("proxy"), sidecar("logs")},
		Containers:     []corev1.Container{{Name: "web"}, {Name: "app"}},
	}}
	cases := []struct {
		name    string
		running []string
		want    map[string][]string
	}{
		{name: "regular containers stop at once", running: []string{"web", "app"},
			want: map[string][]string{"web": nil, "app": nil}},
		{name: "sidecars wait for the mains, and each for the sidecars after it: reverse order",
			running: []string{"proxy", "logs", "web", "app"},
			want:    map[string][]string{"web": nil, "app": nil, "logs": {"web", "app"}, "proxy": {"web", "app", "logs"}}},
		{name: "a main that already exited is not waited for", running: []string{"proxy", "logs", "app"},
			want: map[string][]string{"app": nil, "logs": {"app"}, "proxy": {"app", "logs"}}},
		{name: "sidecars alone (the init phase) still go in reverse", running: []string{"proxy", "logs"},
			want: map[string][]string{"logs": nil, "proxy": {"logs"}}},
		{name: "nothing running", running: nil, want: map[string][]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := StopOrder(pod, tc.running)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
