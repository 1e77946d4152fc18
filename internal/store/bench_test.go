package store

import (
	"context"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// benchPod is a pod as the node reports it: three containers with
// resources, mounts and probes, and a status with conditions.
func benchPod() *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bench", UID: "0b9c4a52-6f3e-4c1a-9d0e-2b7f1a8c3d4e",
		Labels: map[string]string{"app": "bench", "tier": "web"}, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Pod"}`}}}
	for i := range 3 {
		name := "c" + strconv.Itoa(i)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name: name, Image: "busybox:1.36", Command: []string{"sh", "-c", "sleep 3600"},
			Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, Image: "docker.io/library/busybox:1.36", ImageID: "sha256:0658e3bce4321e1963ce44338be44ecebc8aa865ace55d943c1f2452ae403c8c", Ready: true,
			ContainerID: "peapod://" + name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
	}
	for _, c := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.88.0.7"
	return p
}

// A status write as the node makes many of: read, change, write. The
// database does not sync, so the figure is the store's own CPU.
func BenchmarkBolt_UpdatePodStatus(b *testing.B) {
	s := openTest(b, "", 0)
	s.db.NoSync = true
	ctx := context.Background()
	const k = "/pods/default/bench"
	if _, err := s.Create(ctx, k, benchPod()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_, err := s.Update(ctx, k, func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod)
			p.Status.ContainerStatuses[0].RestartCount = int32(i)
			return p, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
