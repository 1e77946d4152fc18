package registry

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultService(t *testing.T) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}}}}
	DefaultService(s)
	sp := s.Spec
	checks := []struct {
		what      string
		got, want any
	}{
		{"sessionAffinity", sp.SessionAffinity, corev1.ServiceAffinityNone},
		{"protocol", sp.Ports[0].Protocol, corev1.ProtocolTCP},
		{"targetPort", sp.Ports[0].TargetPort, intstr.FromInt32(80)},
		{"named targetPort kept", sp.Ports[1].TargetPort, intstr.FromString("dns")},
		{"externalTrafficPolicy", sp.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster},
		{"internalTrafficPolicy", *sp.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster},
		{"ipFamilyPolicy", *sp.IPFamilyPolicy, corev1.IPFamilyPolicySingleStack},
		{"ipFamilies", sp.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	c := &corev1.Service{}
	DefaultService(c)
	if c.Spec.Type != corev1.ServiceTypeClusterIP || c.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ClusterIP default: type %q externalTrafficPolicy %q", c.Spec.Type, c.Spec.ExternalTrafficPolicy)
	}
}

// stringData goes into data, as kube-apiserver's v1 conversion does it.
func TestSecret_StringData(t *testing.T) {
	r := resourceFor(t, "secrets")
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("keep")}, StringData: map[string]string{"a": "new", "c": "added"}}
	r.PrepareForCreate(s, now)
	want := map[string][]byte{"a": []byte("new"), "b": []byte("keep"), "c": []byte("added")}
	if s.Type != corev1.SecretTypeOpaque || !reflect.DeepEqual(s.Data, want) || s.StringData != nil {
		t.Errorf("got type %q data %q stringData %v", s.Type, s.Data, s.StringData)
	}
	only := &corev1.Secret{StringData: map[string]string{"k": "v"}}
	r.PrepareForCreate(only, now)
	if string(only.Data["k"]) != "v" {
		t.Errorf("stringData only: %q", only.Data)
	}
}

func TestPrepareHooks(t *testing.T) {
	ns := resourceFor(t, "namespaces")
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	ns.PrepareForCreate(n, now)
	ns.Default(n)
	if n.Status.Phase != corev1.NamespaceActive || !reflect.DeepEqual(n.Spec.Finalizers, []corev1.FinalizerName{"kubernetes"}) || n.Labels["kubernetes.io/metadata.name"] != "team" {
		t.Errorf("namespace create: %+v", n)
	}
	upd := n.DeepCopy()
	upd.Spec.Finalizers = nil
	upd.Status.Phase = corev1.NamespaceTerminating
	ns.PrepareForUpdate(upd, n, "")
	if len(upd.Spec.Finalizers) != 1 || upd.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace update kept %+v", upd)
	}
	fin := n.DeepCopy()
	fin.Spec.Finalizers = nil
	fin.Status.Phase = corev1.NamespaceTerminating
	ns.PrepareForUpdate(fin, n, "finalize")
	if len(fin.Spec.Finalizers) != 0 || fin.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace finalize: %+v", fin)
	}

	pods := resourceFor(t, "pods")
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "1.2.3.4"}}
	pods.PrepareForCreate(p, now)
	if !reflect.DeepEqual(p.Status, corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSGuaranteed}) {
		t.Errorf("pod create status %+v", p.Status)
	}
	old := p.DeepCopy()
	st := p.DeepCopy()
	st.Spec.NodeName = "sneaky"
	st.Status.Phase = corev1.PodRunning
	pods.PrepareForUpdate(st, old, "status")
	if st.Spec.NodeName != "" || st.Status.Phase != corev1.PodRunning {
		t.Errorf("pod status update: node %q phase %q", st.Spec.NodeName, st.Status.Phase)
	}
	main := old.DeepCopy()
	main.Status.Phase = corev1.PodFailed
	pods.PrepareForUpdate(main, old, "")
	if main.Status.Phase != corev1.PodPending {
		t.Errorf("pod main update changed status to %q", main.Status.Phase)
	}

	svcs := resourceFor(t, "services")
	oldSvc := allocSvc("web", corev1.ServiceTypeNodePort, "10.96.0.5", 30080)
	put := allocSvc("web", corev1.ServiceTypeNodePort, "")
	put.Spec.ClusterIPs = nil
	put.Spec.Ports = []corev1.ServicePort{{Port: oldSvc.Spec.Ports[0].Port, Protocol: corev1.ProtocolTCP}}
	svcs.PrepareForUpdate(&put, &oldSvc, "")
	if put.Spec.ClusterIP != "10.96.0.5" || put.Spec.Ports[0].NodePort != 30080 {
		t.Errorf("service PUT without allocated values: %+v", put.Spec)
	}
	oldSvc.ResourceVersion = "1"
	moved := oldSvc.DeepCopy()
	moved.Spec.ClusterIP, moved.Spec.ClusterIPs = "10.96.0.6", []string{"10.96.0.6"}
	want := `Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.0.6"}: may not change once set`
	if err := svcs.ValidateUpdate(moved, &oldSvc, ""); err == nil || err.Error() != want {
		t.Errorf("clusterIP change: %v", err)
	}

	// kube-apiserver stores an event as its client sent it.
	ev := resourceFor(t, "events")
	kept := &corev1.Event{Count: 4, FirstTimestamp: metav1.NewTime(now.Add(-time.Hour)), Source: corev1.EventSource{Component: "kubelet"}}
	ev.PrepareForCreate(kept, now)
	if kept.Count != 4 || !kept.LastTimestamp.IsZero() || kept.ReportingController != "" {
		t.Errorf("event changed: %+v", kept)
	}
}

func TestImmutable(t *testing.T) {
	yes := true
	cms := resourceFor(t, "configmaps")
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"}, Immutable: &yes, Data: map[string]string{"a": "1"}}
	upd := old.DeepCopy()
	upd.Data["a"] = "2"
	upd.Immutable = nil
	want := "ConfigMap \"cfg\" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]"
	if err := cms.ValidateUpdate(upd, old, ""); err == nil || err.Error() != want {
		t.Errorf("configmap: %v", err)
	}
	secrets := resourceFor(t, "secrets")
	olds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", ResourceVersion: "1"}, Type: corev1.SecretTypeOpaque}
	news := olds.DeepCopy()
	news.Type = "example.com/other"
	want = `Secret "s" is invalid: type: Invalid value: "example.com/other": field is immutable`
	if err := secrets.ValidateUpdate(news, olds, ""); err == nil || err.Error() != want {
		t.Errorf("secret: %v", err)
	}
}
