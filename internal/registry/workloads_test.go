package registry

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func deploymentOf(name string, sel, tpl map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("u-" + name)},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: template(tpl)},
	}
}

// create runs the create hooks in the server's order.
func create(r *Resource, obj runtime.Object) error {
	r.PrepareForCreate(obj, now)
	r.Default(obj)
	return r.Validate(obj)
}

// The workload kinds run kube-apiserver's own defaulting, strategies and
// validation: the answers (defaults, generation, field paths) are upstream's.
func TestWorkloads_UpstreamRules(t *testing.T) {
	app := map[string]string{"app": "web"}
	cases := []struct {
		name    string
		kind    string
		obj     runtime.Object
		check   func(t *testing.T, obj runtime.Object)
		invalid string // a field path the Invalid error names
	}{
		{name: "a deployment gets the API defaults and generation 1", kind: "deployments", obj: deploymentOf("web", app, app),
			check: func(t *testing.T, obj runtime.Object) {
				d := obj.(*appsv1.Deployment)
				if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
					d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || *d.Spec.RevisionHistoryLimit != 10 ||
					*d.Spec.ProgressDeadlineSeconds != 600 || d.Generation != 1 {
					t.Errorf("defaults: %+v generation %d", d.Spec, d.Generation)
				}
				if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || d.Spec.Template.Spec.Containers[0].TerminationMessagePath == "" {
					t.Errorf("pod template not defaulted: %+v", d.Spec.Template.Spec)
				}
			}},
		{name: "a selector that does not match the template is refused", kind: "deployments",
			obj: deploymentOf("web", app, map[string]string{"app": "other"}), invalid: "spec.template.metadata.labels"},
		{name: "an empty selector is refused", kind: "deployments", obj: deploymentOf("web", nil, app), invalid: "spec.selector"},
		{name: "a job gets a generated selector on its UID", kind: "jobs",
			obj: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "u-x"}, Spec: batchv1.JobSpec{Template: func() corev1.PodTemplateSpec {
				tpl := template(nil)
				tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
				return tpl
			}()}},
			check: func(t *testing.T, obj runtime.Object) {
				j := obj.(*batchv1.Job)
				if j.Spec.Selector == nil || j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] != "u-x" ||
					j.Spec.Template.Labels[batchv1.JobNameLabel] != "x" || *j.Spec.BackoffLimit != 6 || *j.Spec.Completions != 1 {
					t.Errorf("job: %+v", j.Spec)
				}
			}},
		{name: "a job's pods may not restart Always", kind: "jobs",
			obj:     &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "u-x"}, Spec: batchv1.JobSpec{Template: template(nil)}},
			invalid: "spec.template.spec.restartPolicy"},
		{name: "a replica set with a matching selector is valid", kind: "replicasets",
			obj: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default"},
				Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: app}, Template: template(app)}}},
		{name: "a replication controller takes its selector from the template", kind: "replicationcontrollers",
			obj: &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "default"},
				Spec: corev1.ReplicationControllerSpec{Template: func() *corev1.PodTemplateSpec { tpl := template(app); return &tpl }()}},
			check: func(t *testing.T, obj runtime.Object) {
				if rc := obj.(*corev1.ReplicationController); rc.Spec.Selector["app"] != "web" || *rc.Spec.Replicas != 1 {
					t.Errorf("rc: %+v", rc.Spec)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := create(resourceFor(t, tc.kind), tc.obj)
			if tc.invalid != "" {
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.invalid) {
					t.Fatalf("got %v, want Invalid naming %s", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, tc.obj)
			}
		})
	}
}

// A spec change bumps the generation (what rollout status waits on); a
// status write keeps the spec.
func TestWorkloads_UpdateStrategy(t *testing.T) {
	r := resourceFor(t, "deployments")
	app := map[string]string{"app": "web"}
	old := deploymentOf("web", app, app)
	if err := create(r, old); err != nil {
		t.Fatal(err)
	}
	scaled := old.DeepCopy()
	n := int32(5)
	scaled.Spec.Replicas = &n
	r.PrepareForUpdate(scaled, old, "")
	if scaled.Generation != 2 {
		t.Errorf("generation %d after a spec change, want 2", scaled.Generation)
	}
	status := old.DeepCopy()
	status.Spec.Replicas = &n
	status.Status.Replicas = 3
	r.PrepareForUpdate(status, old, "status")
	if *status.Spec.Replicas != 1 || status.Status.Replicas != 3 || status.Generation != 1 {
		t.Errorf("status write: replicas %d status %d generation %d", *status.Spec.Replicas, status.Status.Replicas, status.Generation)
	}
}

// The tables are kubectl's: the columns kube-apiserver prints.
func TestWorkloads_Columns(t *testing.T) {
	for kind, want := range map[string]string{
		"deployments":            "Name Ready Up-to-date Available Age Containers Images Selector",
		"replicasets":            "Name Desired Current Ready Age Containers Images Selector",
		"replicationcontrollers": "Name Desired Current Ready Age Containers Images Selector",
		"jobs":                   "Name Status Completions Duration Age Containers Images Selector",
	} {
		var names []string
		for _, c := range resourceFor(t, kind).Columns {
			names = append(names, c.Name)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s: columns %q, want %q", kind, got, want)
		}
	}
}

func TestWorkloads_Scale(t *testing.T) {
	r := resourceFor(t, "deployments")
	app := map[string]string{"app": "web"}
	d := deploymentOf("web", app, app)
	if err := create(r, d); err != nil {
		t.Fatal(err)
	}
	d.ResourceVersion = "7"
	d.Status.Replicas = 1
	proj := r.Projections["scale"]
	got, err := proj.Get(d)
	if err != nil {
		t.Fatal(err)
	}
	s := got.(interface{ GetResourceVersion() string })
	if s.GetResourceVersion() != "7" || !strings.Contains(toJSON(t, got), `"selector":"app=web"`) {
		t.Errorf("scale %s", toJSON(t, got))
	}
	if err := proj.Put(&corev1.Pod{}, got); err == nil {
		t.Error("a scale written into a pod")
	}
}

func toJSON(t *testing.T, obj runtime.Object) string {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A Service changed to a type that does not use a field loses it, unless
// the client set it anew (kube-apiserver's dropTypeDependentFields).
func TestService_TypeChangeDropsFields(t *testing.T) {
	r := resourceFor(t, "services")
	nodePort := func() *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.9", ClusterIPs: []string{"10.96.0.9"},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: 30007}},
		}}
	}
	cases := []struct {
		name   string
		change func(*corev1.Service)
		check  func(*corev1.Service) bool
	}{
		{"to ExternalName: no cluster IP, node ports or external traffic policy", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
		}, func(s *corev1.Service) bool {
			return s.Spec.ClusterIP == "" && len(s.Spec.ClusterIPs) == 0 && s.Spec.Ports[0].NodePort == 0 && s.Spec.ExternalTrafficPolicy == ""
		}},
		{"to ClusterIP: the cluster IP stays, the node ports go", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
			func(s *corev1.Service) bool { return s.Spec.ClusterIP == "10.96.0.9" && s.Spec.Ports[0].NodePort == 0 }},
		{"a field the client changed in the same write is kept", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.Ports[0].NodePort = 30008
		}, func(s *corev1.Service) bool { return s.Spec.Ports[0].NodePort == 30008 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := nodePort()
			svc := old.DeepCopy()
			tc.change(svc)
			r.PrepareForUpdate(svc, old, "")
			if !tc.check(svc) {
				t.Errorf("spec after the update: %+v", svc.Spec)
			}
		})
	}
}
