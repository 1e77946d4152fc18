package registry

import (
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/authentication"
	_ "k8s.io/kubernetes/pkg/apis/authentication/install" // TokenRequest defaults and conversions
	authenticationvalidation "k8s.io/kubernetes/pkg/apis/authentication/validation"
	serviceaccountadmission "k8s.io/kubernetes/plugin/pkg/admission/serviceaccount"
)

// Lookup reads a stored object an admission rule or a request depends on,
// or returns the API error of the read. wait > 0 keeps looking that long
// for one that is not there yet (a namespace's default ServiceAccount,
// which a controller makes just after the namespace).
type Lookup func(gvr schema.GroupVersionResource, namespace, name string, wait time.Duration) (runtime.Object, error)

// TokenIssuer signs service-account tokens (the server's key).
type TokenIssuer interface {
	// Audiences are the API's own, given to a request that names none.
	Audiences() []string
	Issue(sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, node *corev1.Node, expirationSeconds int64, audiences []string) (string, error)
}

var (
	serviceAccountsGVR = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	podsGVR            = corev1.SchemeGroupVersion.WithResource("pods")
	secretsGVR         = corev1.SchemeGroupVersion.WithResource("secrets")
	nodesGVR           = corev1.SchemeGroupVersion.WithResource("nodes")
)

// defaultServiceAccountWait is how long a pod's create waits for its
// namespace's default ServiceAccount, as the admission plugin's ten
// retries do.
const defaultServiceAccountWait = time.Second

// admitServiceAccount is kube-apiserver's ServiceAccount admission on a
// pod's create: the default account when none is named, which must
// exist, its image pull secrets when the pod has none, and the
// kube-api-access projected volume (token, CA, namespace) mounted in
// every container that has nothing at the token path, unless the pod or
// the account turns automounting off. Mirror pods are left alone.
func admitServiceAccount(obj runtime.Object, lookup Lookup) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return wrongType("Pod", obj)
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = serviceaccountadmission.DefaultServiceAccountName
	}
	wait := time.Duration(0)
	if pod.Spec.ServiceAccountName == serviceaccountadmission.DefaultServiceAccountName {
		wait = defaultServiceAccountWait
	}
	o, err := lookup(serviceAccountsGVR, pod.Namespace, pod.Spec.ServiceAccountName, wait)
	if apierrors.IsNotFound(err) {
		err = fmt.Errorf("serviceaccount %q not found", pod.Spec.ServiceAccountName)
	}
	sa, ok := o.(*corev1.ServiceAccount)
	if err == nil && !ok {
		err = wrongType("ServiceAccount", o)
	}
	if err != nil {
		return forbidPod(pod, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if automount(sa, pod) {
		mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		for _, s := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s.Name})
		}
	}
	return nil
}

func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken mounts the token volume (the pod's own kube-api-access-*
// one if it has it, else a new one with upstream's source) read-only at
// the token path in each init and regular container without a mount
// there.
func mountToken(pod *corev1.Pod) {
	prefix := serviceaccountadmission.ServiceAccountVolumeName + "-"
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, prefix) {
			name = v.Name
			break
		}
	}
	has := name != ""
	if !has {
		name = prefix + rand.String(5)
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: serviceaccountadmission.DefaultAPITokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
	containers:
		for i := range cs {
			for _, m := range cs[i].VolumeMounts {
				if m.MountPath == serviceaccountadmission.DefaultAPITokenMountPath {
					continue containers
				}
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			needed = true
		}
	}
	if has || !needed {
		return
	}
	var src corev1.ProjectedVolumeSource
	if err := legacyscheme.Scheme.Convert(serviceaccountadmission.TokenVolumeSource(), &src, nil); err != nil {
		return
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &src}})
}

// tokenRequest is serviceaccounts/token, kube-apiserver's TokenREST: a
// token for the stored account, bound to the pod, secret or node the
// request names (which must exist, with the UID it gives), for the
// API's audiences unless it names its own.
func tokenRequest(tokens TokenIssuer) Request {
	return Request{
		In: func() runtime.Object { return &authenticationv1.TokenRequest{} },
		Serve: func(cur, in runtime.Object, lookup Lookup, now time.Time) (runtime.Object, error) {
			sa, ok := cur.(*corev1.ServiceAccount)
			if !ok {
				return nil, wrongType("ServiceAccount", cur)
			}
			req, ok := in.(*authenticationv1.TokenRequest)
			if !ok {
				return nil, wrongType("TokenRequest", in)
			}
			legacyscheme.Scheme.Default(req)
			if len(req.Spec.Audiences) == 0 {
				req.Spec.Audiences = tokens.Audiences()
			}
			if req.Name == "" {
				req.Name = sa.Name
			}
			if req.Namespace == "" {
				req.Namespace = sa.Namespace
			}
			req.CreationTimestamp = metav1.NewTime(now)
			req.Status = authenticationv1.TokenRequestStatus{}
			var ireq authentication.TokenRequest
			if err := legacyscheme.Scheme.Convert(req, &ireq, nil); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			gk := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind()
			if errs := authenticationvalidation.ValidateTokenRequest(&ireq); len(errs) > 0 {
				return nil, apierrors.NewInvalid(gk, "", errs)
			}
			pod, secret, node, err := boundObject(sa, req.Spec.BoundObjectRef, lookup)
			if err != nil {
				return nil, err
			}
			tok, err := tokens.Issue(sa, pod, secret, node, *req.Spec.ExpirationSeconds, req.Spec.Audiences)
			if err != nil {
				return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %v", err))
			}
			req.Status = authenticationv1.TokenRequestStatus{
				Token:               tok,
				ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second)),
			}
			return req, nil
		},
	}
}

// boundObject reads what a token request binds its token to: a pod of
// the account (with its node), a secret, or a node.
func boundObject(sa *corev1.ServiceAccount, ref *authenticationv1.BoundObjectReference, lookup Lookup) (*corev1.Pod, *corev1.Secret, *corev1.Node, error) {
	if ref == nil {
		return nil, nil, nil, nil
	}
	var (
		pod    *corev1.Pod
		secret *corev1.Secret
		node   *corev1.Node
		uid    string
	)
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	get := func(gvr schema.GroupVersionResource, ns string) (runtime.Object, error) {
		return lookup(gvr, ns, ref.Name, 0)
	}
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		o, err := get(podsGVR, sa.Namespace)
		if err != nil {
			return nil, nil, nil, err
		}
		if pod, _ = o.(*corev1.Pod); pod == nil {
			return nil, nil, nil, wrongType("Pod", o)
		}
		if pod.Spec.ServiceAccountName != sa.Name {
			return nil, nil, nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", sa.Name))
		}
		uid = string(pod.UID)
		if pod.Spec.NodeName != "" {
			node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
			if o, err := lookup(nodesGVR, "", pod.Spec.NodeName, 0); err == nil {
				if n, ok := o.(*corev1.Node); ok {
					node = n
				}
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		o, err := get(nodesGVR, "")
		if err != nil {
			return nil, nil, nil, err
		}
		if node, _ = o.(*corev1.Node); node == nil {
			return nil, nil, nil, wrongType("Node", o)
		}
		uid = string(node.UID)
	case gvk.Group == "" && gvk.Kind == "Secret":
		o, err := get(secretsGVR, sa.Namespace)
		if err != nil {
			return nil, nil, nil, err
		}
		if secret, _ = o.(*corev1.Secret); secret == nil {
			return nil, nil, nil, wrongType("Secret", o)
		}
		uid = string(secret.UID)
	default:
		return nil, nil, nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return nil, nil, nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return pod, secret, node, nil
}
