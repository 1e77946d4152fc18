package registry

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// now is the tests' clock.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func resourceFor(t *testing.T, name string) *Resource {
	t.Helper()
	for _, r := range Resources(DefaultServiceAllocator(), nil) {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return nil
}

func created(ago time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "default", CreationTimestamp: metav1.NewTime(now.Add(-ago))}
}

// TestResources: names and scopes as the real API server's discovery;
// one cell per column; hooks never panic on a wrong type.
func TestResources(t *testing.T) {
	want := map[string]struct {
		kind, short string
		namespaced  bool
	}{
		"pods": {"Pod", "po", true}, "configmaps": {"ConfigMap", "cm", true}, "secrets": {"Secret", "", true},
		"services": {"Service", "svc", true}, "endpoints": {"Endpoints", "ep", true}, "namespaces": {"Namespace", "ns", false},
		"nodes": {"Node", "no", false}, "events": {"Event", "ev", true}, "serviceaccounts": {"ServiceAccount", "sa", true},
		"endpointslices": {"EndpointSlice", "", true}, "replicationcontrollers": {"ReplicationController", "rc", true},
		"replicasets": {"ReplicaSet", "rs", true}, "deployments": {"Deployment", "deploy", true}, "jobs": {"Job", "", true},
	}
	rs := Resources(DefaultServiceAllocator(), nil)
	if len(rs) != len(want) {
		t.Fatalf("%d resources, want %d", len(rs), len(want))
	}
	for _, r := range rs {
		w, ok := want[r.Resource]
		if !ok {
			t.Errorf("unexpected resource %s", r.Resource)
			continue
		}
		if r.Kind != w.kind || r.Namespaced != w.namespaced || strings.Join(r.ShortNames, ",") != w.short {
			t.Errorf("%s: kind %s namespaced %v short %v", r.Resource, r.Kind, r.Namespaced, r.ShortNames)
		}
		if cells := r.Row(r.New(), now); len(cells) != len(r.Columns) {
			t.Errorf("%s: %d cells for %d columns", r.Resource, len(cells), len(r.Columns))
		}
		wrong := &corev1.Binding{}
		if r.Row(wrong, now) != nil {
			t.Errorf("%s: Row of a wrong type", r.Resource)
		}
		if err := r.Validate(wrong); err == nil {
			t.Errorf("%s: Validate of a wrong type passed", r.Resource)
		}
		var hooks []func()
		if r.Default != nil {
			hooks = append(hooks, func() { r.Default(wrong) })
		}
		if r.PrepareForCreate != nil {
			hooks = append(hooks, func() { r.PrepareForCreate(wrong, now) })
		}
		if r.PrepareForUpdate != nil {
			hooks = append(hooks, func() { r.PrepareForUpdate(wrong, wrong, "status") })
		}
		hooks = append(hooks, func() { _ = r.ValidateUpdate(wrong, r.New(), "") }, func() { _ = r.Fields(wrong) })
		for _, hook := range hooks {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: panic %v", r.Resource, p)
					}
				}()
				hook()
			}()
		}
		if !r.SupportsField("metadata.name") || r.SupportsField("spec.nosuch") || r.SupportsField("metadata.namespace") != r.Namespaced {
			t.Errorf("%s: SupportsField wrong", r.Resource)
		}
	}
}

func TestRows(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}
	withName := func(m metav1.ObjectMeta, name string) metav1.ObjectMeta { m.Name = name; return m }
	cases := []struct {
		resource string
		obj      runtime.Object
		want     []any
	}{
		{"services", &corev1.Service{ObjectMeta: withName(created(5*time.Minute), "web"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.12.34", ClusterIPs: []string{"10.96.12.34"},
			Ports:    []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}},
			Selector: map[string]string{"app": "web"}}},
			[]any{"web", "NodePort", "10.96.12.34", "<none>", "80:30080/TCP", "5m", "app=web"}},
		{"services", &corev1.Service{ObjectMeta: withName(created(time.Hour), "db"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"},
			Ports: []corev1.ServicePort{{Port: 5432, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}},
			[]any{"db", "ClusterIP", "None", "<none>", "5432/TCP,53/UDP", "60m", "<none>"}},
		{"services", &corev1.Service{ObjectMeta: withName(created(2*time.Hour), "lb"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.9"}, Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}}}},
			[]any{"lb", "LoadBalancer", "10.96.0.9", "<pending>", "443:31443/TCP", "120m", "<none>"}},
		{"services", &corev1.Service{ObjectMeta: withName(created(time.Minute), "ext"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			[]any{"ext", "ExternalName", "<none>", "example.com", "<none>", "60s", "<none>"}},
		{"configmaps", &corev1.ConfigMap{ObjectMeta: withName(created(3*24*time.Hour), "cfg"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {0}}},
			[]any{"cfg", int64(2), "3d"}},
		{"secrets", &corev1.Secret{ObjectMeta: withName(created(10*time.Second), "tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]any{"tls", "kubernetes.io/tls", int64(2), "10s"}},
		{"serviceaccounts", &corev1.ServiceAccount{ObjectMeta: withName(created(time.Minute), "default")},
			[]any{"default", int64(0), "60s"}},
		{"namespaces", &corev1.Namespace{ObjectMeta: withName(created(48*time.Hour), "kube-system"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]any{"kube-system", "Active", "2d"}},
		{"endpoints", &corev1.Endpoints{ObjectMeta: withName(created(time.Minute), "web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.88.0.2"}, {IP: "10.88.0.3"}},
			Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			[]any{"web", "10.88.0.2:80,10.88.0.3:80,10.88.0.2:443 + 1 more...", "60s"}},
		{"endpoints", &corev1.Endpoints{ObjectMeta: withName(created(time.Minute), "none")},
			[]any{"none", "<none>", "60s"}},
		{"endpointslices", &discoveryv1.EndpointSlice{ObjectMeta: withName(created(time.Minute), "web-abc12"), AddressType: discoveryv1.AddressTypeIPv4,
			Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.88.0.2"}}, {Addresses: []string{"10.88.0.3"}}}},
			[]any{"web-abc12", "IPv4", "80", "10.88.0.2,10.88.0.3", "60s"}},
		{"endpointslices", &discoveryv1.EndpointSlice{ObjectMeta: withName(created(time.Minute), "empty"), AddressType: discoveryv1.AddressTypeIPv4},
			[]any{"empty", "IPv4", "<unset>", "<unset>", "60s"}},
		{"nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host", CreationTimestamp: metav1.NewTime(now.Add(-10 * 24 * time.Hour)),
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
			Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{ready},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.5"}},
				NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.32.3", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.1.0", ContainerRuntimeVersion: "peapod://0.1"}}},
			[]any{"host", "Ready,SchedulingDisabled", "control-plane,worker", "10d", "v1.32.3", "192.168.1.5", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0", "peapod://0.1"}},
		{"nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{notReady}}},
			[]any{"n2", "NotReady", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}},
			[]any{"n3", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"events", &corev1.Event{ObjectMeta: withName(created(time.Minute), "web.17f"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{nginx}"},
			Reason:         "Pulled", Message: "Successfully pulled image \"nginx\"\n", Type: corev1.EventTypeNormal, Count: 3,
			Source:         corev1.EventSource{Component: "kubelet", Host: "host"},
			FirstTimestamp: metav1.NewTime(now.Add(-10 * time.Minute)), LastTimestamp: metav1.NewTime(now.Add(-30 * time.Second))},
			[]any{"30s", "Normal", "Pulled", "pod/web", "spec.containers{nginx}", "kubelet, host", "Successfully pulled image \"nginx\"", "10m", int64(3), "web.17f"}},
		{"events", &corev1.Event{ObjectMeta: withName(created(time.Minute), "ns.1"), InvolvedObject: corev1.ObjectReference{Kind: "Namespace"},
			EventTime: metav1.NewMicroTime(now.Add(-2 * time.Minute)), ReportingController: "peapod", ReportingInstance: "host-1", Type: corev1.EventTypeWarning},
			[]any{"2m", "Warning", "", "namespace", "", "peapod, host-1", "", "2m", int64(1), "ns.1"}},
		{"pods", &corev1.Pod{ObjectMeta: withName(created(time.Minute), "web"),
			Spec:   corev1.PodSpec{NodeName: "host", Containers: []corev1.Container{{Name: "c"}}, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "x"}, {ConditionType: "y"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.88.0.7"}}, Conditions: []corev1.PodCondition{{Type: "x", Status: corev1.ConditionTrue}}}},
			[]any{"web", "0/1", "Running", "0", "60s", "10.88.0.7", "host", "<none>", "1/2"}},
		{"pods", &corev1.Pod{ObjectMeta: withName(created(time.Minute), "new"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			[]any{"new", "0/1", "Pending", "0", "60s", "<none>", "<none>", "<none>", "<none>"}},
	}
	for _, tc := range cases {
		r := resourceFor(t, tc.resource)
		got := r.Row(tc.obj, now)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s row:\n got %#v\nwant %#v", tc.resource, got, tc.want)
		}
	}
}

func TestColumns(t *testing.T) {
	cases := map[string]string{
		"pods":            "Name Ready Status Restarts Age IP* Node* Nominated Node* Readiness Gates*",
		"services":        "Name Type Cluster-IP External-IP Port(s) Age Selector*",
		"nodes":           "Name Status Roles Age Version Internal-IP* External-IP* OS-Image* Kernel-Version* Container-Runtime*",
		"events":          "Last Seen Type Reason Object Subobject* Source* Message First Seen* Count* Name*",
		"endpointslices":  "Name AddressType Ports Endpoints Age",
		"secrets":         "Name Type Data Age",
		"configmaps":      "Name Data Age",
		"endpoints":       "Name Endpoints Age",
		"namespaces":      "Name Status Age",
		"serviceaccounts": "Name Secrets Age",
	}
	for res, want := range cases {
		var names []string
		for _, c := range resourceFor(t, res).Columns {
			n := c.Name
			if c.Priority > 0 {
				n += "*"
			}
			if c.Description == "" {
				t.Errorf("%s: column %s has no description", res, c.Name)
			}
			names = append(names, n)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s columns: %s, want %s", res, got, want)
		}
	}
}

func TestFields(t *testing.T) {
	cases := []struct {
		resource string
		obj      runtime.Object
		want     map[string]string
	}{
		{"pods", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:   corev1.PodSpec{NodeName: "host", RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler", ServiceAccountName: "default"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.88.0.2"}}}},
			map[string]string{"metadata.name": "web", "metadata.namespace": "default", "spec.nodeName": "host", "spec.restartPolicy": "Always",
				"spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "default", "spec.hostNetwork": "false",
				"status.phase": "Running", "status.podIP": "10.88.0.2", "status.nominatedNodeName": ""}},
		{"events", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{c}"},
			Reason:         "Started", Type: "Normal", Source: corev1.EventSource{Component: "kubelet"}, ReportingController: "kubelet"},
			map[string]string{"metadata.name": "e", "metadata.namespace": "default", "involvedObject.kind": "Pod", "involvedObject.namespace": "default",
				"involvedObject.name": "web", "involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "7",
				"involvedObject.fieldPath": "spec.containers{c}", "reason": "Started", "reportingComponent": "kubelet", "source": "kubelet", "type": "Normal"}},
		{"secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Type: corev1.SecretTypeOpaque},
			map[string]string{"metadata.name": "s", "metadata.namespace": "ns", "type": "Opaque"}},
		{"namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			map[string]string{"metadata.name": "ns", "status.phase": "Terminating"}},
		{"nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host"}, Spec: corev1.NodeSpec{Unschedulable: true}},
			map[string]string{"metadata.name": "host", "spec.unschedulable": "true"}},
		{"configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}},
			map[string]string{"metadata.name": "c", "metadata.namespace": "ns"}},
	}
	for _, tc := range cases {
		got := map[string]string(resourceFor(t, tc.resource).Fields(tc.obj))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s fields:\n got %v\nwant %v", tc.resource, got, tc.want)
		}
	}
}

func TestValidateKinds(t *testing.T) {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }
	svc := func(mut func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{ObjectMeta: meta("web"), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80}}}}
		mut(s)
		DefaultService(s)
		return s
	}
	big := strings.Repeat("x", corev1.MaxSecretSize+1)
	cases := []struct {
		resource string
		obj      runtime.Object
		want     string
	}{
		{"configmaps", &corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"ok.key": "v"}}, ""},
		{"configmaps", &corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"bad/key": "v"}},
			`ConfigMap "cfg" is invalid: data[bad/key]: Invalid value: "bad/key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`},
		{"configmaps", &corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"a": big}, BinaryData: map[string][]byte{"a": nil}},
			`ConfigMap "cfg" is invalid: [data[a]: Invalid value: "a": duplicate of key present in binaryData, []: Too long: may not be more than 1048576 bytes]`},
		{"secrets", &corev1.Secret{ObjectMeta: meta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": {1}}},
			`Secret "tls" is invalid: data[tls.key]: Required value`},
		{"secrets", &corev1.Secret{ObjectMeta: meta("auth"), Type: corev1.SecretTypeBasicAuth},
			`Secret "auth" is invalid: [data[username]: Required value, data[password]: Required value]`},
		{"secrets", &corev1.Secret{ObjectMeta: meta("ssh"), Type: corev1.SecretTypeSSHAuth},
			`Secret "ssh" is invalid: data[ssh-privatekey]: Required value`},
		{"secrets", &corev1.Secret{ObjectMeta: meta("reg"), Type: corev1.SecretTypeDockerConfigJson},
			`Secret "reg" is invalid: data[.dockerconfigjson]: Required value`},
		{"secrets", &corev1.Secret{ObjectMeta: meta("reg"), Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{")}},
			`Secret "reg" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input`},
		{"services", svc(func(*corev1.Service) {}), ""},
		{"services", svc(func(s *corev1.Service) { s.Name = "Web" }),
			`Service "Web" is invalid: metadata.name: Invalid value: "Web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Ports = nil }), `Service "web" is invalid: spec.ports: Required value`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443}) }),
			`Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			"Service \"web\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"services", svc(func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 0
			s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		}),
			`Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Type = "Magic" }),
			`Service "web" is invalid: spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ClusterIP = "None" }),
			`Service "web" is invalid: spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`},
		{"services", svc(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "bad value"} }),
			`Service "web" is invalid: spec.selector: Invalid value: "bad value": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{"namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "my.ns"}},
			`Namespace "my.ns" is invalid: metadata.name: Invalid value: "my.ns": must not contain dots`},
		{"namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "custom"}}},
			`Namespace "ns" is invalid: spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified`},
		{"events", &corev1.Event{ObjectMeta: meta("e"), InvolvedObject: corev1.ObjectReference{Namespace: "other"}},
			`Event "e" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace`},
		{"events", &corev1.Event{ObjectMeta: meta("e"), EventTime: metav1.NewMicroTime(now)},
			`Event "e" is invalid: [reportingComponent: Required value, reportingComponent: Invalid value: "": name part must be non-empty, reportingComponent: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), reportingInstance: Required value, action: Required value, reason: Required value]`},
		{"endpoints", &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "nope"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}}},
			`Endpoints "web" is invalid: [subsets[0].addresses[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff), subsets[0].addresses[0].ip: Invalid value: "nope": must be a valid IP address]`},
		{"endpoints", &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}, {Name: "x", Port: 0, Protocol: "TCP"}}}}},
			`Endpoints "web" is invalid: [subsets[0]: Required value: must specify ` + "`addresses` or `notReadyAddresses`" + `, subsets[0].ports[0].name: Required value, subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive]`},
		{"endpointslices", &discoveryv1.EndpointSlice{ObjectMeta: meta("web-1"), AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{}}},
			`EndpointSlice.discovery.k8s.io "web-1" is invalid: endpoints[0].addresses: Required value: must contain at least 1 address`},
		{"nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Effect: "Never"}}}},
			`Node "host" is invalid: metadata.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"serviceaccounts", &corev1.ServiceAccount{ObjectMeta: meta("")},
			`ServiceAccount "" is invalid: metadata.name: Required value: name or generateName is required`},
	}
	for _, tc := range cases {
		r := resourceFor(t, tc.resource)
		if r.Default != nil {
			r.Default(tc.obj)
		}
		err := r.Validate(tc.obj)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.resource, got, tc.want)
		}
	}
}

// Endpoints on loopback are refused, default/kubernetes's too, as
// kube-apiserver refuses them: serve advertises its pods' gateway there.
func TestEndpoints_Loopback(t *testing.T) {
	ep := func(name, ip string) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip}}, Ports: []corev1.EndpointPort{{Name: "https", Port: 6443, Protocol: corev1.ProtocolTCP}},
		}}}
	}
	r := resourceFor(t, "endpoints")
	for _, name := range []string{"kubernetes", "web"} {
		if err := r.Validate(ep(name, "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "may not be in the loopback range") {
			t.Errorf("%s on loopback: %v, want the loopback refusal", name, err)
		}
	}
	if err := r.Validate(ep("kubernetes", "10.88.0.1")); err != nil {
		t.Errorf("default/kubernetes on the pods' gateway: %v", err)
	}
}
