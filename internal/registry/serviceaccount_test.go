package registry

import (
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

// fakeLookup serves objects by resource/namespace/name.
type fakeLookup map[string]runtime.Object

func (f fakeLookup) lookup(gvr schema.GroupVersionResource, namespace, name string, _ time.Duration) (runtime.Object, error) {
	if o, ok := f[gvr.Resource+"/"+namespace+"/"+name]; ok {
		return o.DeepCopyObject(), nil
	}
	return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
}

const tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

func TestAdmitServiceAccount(t *testing.T) {
	sa := func(name string, automount *bool, pullSecrets ...string) *corev1.ServiceAccount {
		s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, AutomountServiceAccountToken: automount}
		for _, p := range pullSecrets {
			s.ImagePullSecrets = append(s.ImagePullSecrets, corev1.LocalObjectReference{Name: p})
		}
		return s
	}
	objs := fakeLookup{
		"serviceaccounts/ns/default": sa("default", nil, "regcred"),
		"serviceaccounts/ns/quiet":   sa("quiet", ptr(false)),
	}
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}},
		}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	mounted := func(p *corev1.Pod) []string { // containers with the token mount
		var out []string
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if m.MountPath == tokenPath && m.ReadOnly && strings.HasPrefix(m.Name, "kube-api-access-") {
					out = append(out, c.Name)
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		pod         *corev1.Pod
		wantErr     string
		wantSA      string
		wantMounted string // comma-separated
		wantVolumes int
		wantPull    string
	}{
		{name: "no account named: default, token in every container, its pull secrets", pod: pod(nil),
			wantSA: "default", wantMounted: "init,a,b", wantVolumes: 1, wantPull: "regcred"},
		{name: "the pod turns automount off", pod: pod(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(false) }),
			wantSA: "default", wantVolumes: 0, wantPull: "regcred"},
		{name: "the account turns automount off", pod: pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" }),
			wantSA: "quiet", wantVolumes: 0},
		{name: "the pod's choice wins over the account's", pod: pod(func(p *corev1.Pod) {
			p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken = "quiet", ptr(true)
		}), wantSA: "quiet", wantMounted: "init,a,b", wantVolumes: 1},
		{name: "a container with its own mount at the path keeps it", pod: pod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "mine"}}
			p.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: tokenPath}}
		}), wantSA: "default", wantMounted: "init,a", wantVolumes: 2, wantPull: "regcred"},
		{name: "the pod's own pull secrets are kept", pod: pod(func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "own"}}
		}), wantSA: "default", wantMounted: "init,a,b", wantVolumes: 1, wantPull: "own"},
		{name: "a missing account is forbidden", pod: pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "ghost" }),
			wantErr: `pods "p" is forbidden: error looking up service account ns/ghost: serviceaccount "ghost" not found`},
		{name: "mirror pods are left alone", pod: pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}), wantSA: "", wantVolumes: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := admitServiceAccount(tc.pod, objs.lookup)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !apierrors.IsForbidden(err) {
					t.Fatalf("err = %v, want Forbidden %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := tc.pod
			if p.Spec.ServiceAccountName != tc.wantSA {
				t.Errorf("serviceAccountName = %q, want %q", p.Spec.ServiceAccountName, tc.wantSA)
			}
			if got := strings.Join(mounted(p), ","); got != tc.wantMounted {
				t.Errorf("token mounted in %q, want %q", got, tc.wantMounted)
			}
			if len(p.Spec.Volumes) != tc.wantVolumes {
				t.Errorf("%d volumes, want %d: %+v", len(p.Spec.Volumes), tc.wantVolumes, p.Spec.Volumes)
			}
			var pull []string
			for _, s := range p.Spec.ImagePullSecrets {
				pull = append(pull, s.Name)
			}
			if got := strings.Join(pull, ","); got != tc.wantPull {
				t.Errorf("imagePullSecrets %q, want %q", got, tc.wantPull)
			}
			for _, v := range p.Spec.Volumes {
				if !strings.HasPrefix(v.Name, "kube-api-access-") {
					continue
				}
				src := v.Projected
				if src == nil || len(src.Sources) != 3 || src.Sources[0].ServiceAccountToken == nil || src.Sources[0].ServiceAccountToken.Path != "token" ||
					*src.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 || src.Sources[1].ConfigMap == nil || src.Sources[1].ConfigMap.Name != "kube-root-ca.crt" ||
					src.Sources[2].DownwardAPI == nil || *src.DefaultMode != 0o644 {
					t.Errorf("token volume %+v", v)
				}
			}
		})
	}
	// Admitted, the pod is valid as kube-apiserver checks it.
	p := pod(nil)
	p.Spec.Containers[0].Image, p.Spec.Containers[1].Image, p.Spec.InitContainers[0].Image = "x", "x", "x"
	if err := admitServiceAccount(p, objs.lookup); err != nil {
		t.Fatal(err)
	}
	DefaultPod(p)
	if err := ValidatePod(p); err != nil {
		t.Fatalf("admitted pod invalid: %v", err)
	}
}

// fakeIssuer records what it was asked to sign.
type fakeIssuer struct {
	sa     *corev1.ServiceAccount
	pod    *corev1.Pod
	secret *corev1.Secret
	node   *corev1.Node
	exp    int64
	auds   []string
}

func (f *fakeIssuer) Audiences() []string {
	return []string{"https://kubernetes.default.svc.cluster.local"}
}

func (f *fakeIssuer) Issue(sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, node *corev1.Node, exp int64, auds []string) (string, error) {
	f.sa, f.pod, f.secret, f.node, f.exp, f.auds = sa, pod, secret, node, exp, auds
	return "signed", nil
}

func TestTokenRequest(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app", UID: "sa-uid"}}
	objs := fakeLookup{
		"pods/ns/web":     &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "pod-uid"}, Spec: corev1.PodSpec{ServiceAccountName: "app", NodeName: "n1"}},
		"pods/ns/other":   &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", UID: "o"}, Spec: corev1.PodSpec{ServiceAccountName: "default"}},
		"nodes//n1":       &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}},
		"secrets/ns/cred": &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cred", UID: "sec-uid"}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ref := func(kind, name, uid string) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: kind, Name: name, UID: k8stypes.UID(uid)}
	}
	for _, tc := range []struct {
		name      string
		spec      authenticationv1.TokenRequestSpec
		wantCode  int32
		wantErr   string
		wantExp   int64
		wantAuds  string
		wantBound string // kind/name the issuer got
	}{
		{name: "defaults: an hour, the API's audience", wantExp: 3600, wantAuds: "https://kubernetes.default.svc.cluster.local"},
		{name: "own audiences and expiry", spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr(int64(7200))}, wantExp: 7200, wantAuds: "vault"},
		{name: "bound to a pod of the account, with its node", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref("Pod", "web", "pod-uid")}, wantExp: 3600,
			wantAuds: "https://kubernetes.default.svc.cluster.local", wantBound: "Pod/web+Node/n1"},
		{name: "bound to a secret", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref("Secret", "cred", "")}, wantExp: 3600,
			wantAuds: "https://kubernetes.default.svc.cluster.local", wantBound: "Secret/cred"},
		{name: "under ten minutes", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(60))}, wantCode: 422,
			wantErr: `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes`},
		{name: "a pod of another account", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref("Pod", "other", "")}, wantCode: 400,
			wantErr: `cannot bind token for serviceaccount "app" to pod running with different serviceaccount name.`},
		{name: "a pod made again (UID differs)", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref("Pod", "web", "old-uid")}, wantCode: 409,
			wantErr: `Operation cannot be fulfilled on Pod "web": the UID in the bound object reference (old-uid) does not match the UID in record. The object might have been deleted and then recreated`},
		{name: "a missing pod", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref("Pod", "gone", "")}, wantCode: 404, wantErr: `pods "gone" not found`},
		{name: "an unbindable kind", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}}, wantCode: 400,
			wantErr: `cannot bind token to object of type apps/v1, Kind=Deployment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := &fakeIssuer{}
			out, err := tokenRequest(iss).Serve(sa, &authenticationv1.TokenRequest{Spec: tc.spec}, objs.lookup, now)
			if tc.wantErr != "" {
				se, ok := err.(apierrors.APIStatus)
				if !ok || se.Status().Code != tc.wantCode || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %d %q", err, tc.wantCode, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := out.(*authenticationv1.TokenRequest)
			if tr.Status.Token != "signed" || !tr.Status.ExpirationTimestamp.Time.Equal(now.Add(time.Duration(tc.wantExp)*time.Second)) || tr.Name != "app" || tr.Namespace != "ns" {
				t.Errorf("status %+v, meta %s/%s", tr.Status, tr.Namespace, tr.Name)
			}
			if iss.exp != tc.wantExp || strings.Join(iss.auds, ",") != tc.wantAuds || iss.sa.UID != "sa-uid" {
				t.Errorf("issued exp %d auds %v sa %s", iss.exp, iss.auds, iss.sa.UID)
			}
			var bound []string
			if iss.pod != nil {
				bound = append(bound, "Pod/"+iss.pod.Name)
			}
			if iss.secret != nil {
				bound = append(bound, "Secret/"+iss.secret.Name)
			}
			if iss.node != nil {
				bound = append(bound, "Node/"+iss.node.Name)
			}
			if got := strings.Join(bound, "+"); got != tc.wantBound {
				t.Errorf("bound to %q, want %q", got, tc.wantBound)
			}
		})
	}
}
