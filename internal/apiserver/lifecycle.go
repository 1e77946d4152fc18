package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"peapod/internal/store"
)

var storeListAll = store.ListOptions{}

// undeletable namespaces, as the API server's NamespaceLifecycle admission.
var undeletable = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// deleteObject deletes one object the API server's way: preconditions;
// namespaces go Terminating and are emptied by the namespace controller;
// pods bound to a node with a grace period get deletionTimestamp and stay
// until the node agent deletes them with grace 0; objects with finalizers
// stay until those are removed. deleted reports whether the object is gone.
func (s *Server) deleteObject(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions, dry bool) (runtime.Object, bool, error) {
	gr := res.GroupVersionResource().GroupResource()
	key := res.key(namespace, name)
	precheck := func(cur runtime.Object) error {
		m, err := meta.Accessor(cur)
		if err != nil {
			return err
		}
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return apierrors.NewConflict(gr, name, preconditionFailed("UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return apierrors.NewConflict(gr, name, preconditionFailed("ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		return nil
	}
	cur, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, false, storeErr(res, name, err)
	}
	if err := precheck(cur); err != nil {
		return nil, false, err
	}
	m, _ := meta.Accessor(cur)
	now := metav1.NewTime(s.cfg.Now().Truncate(time.Second))
	var grace int64
	switch obj := cur.(type) {
	case *corev1.Namespace:
		if undeletable[name] {
			return nil, false, apierrors.NewForbidden(gr, name, fmt.Errorf("this namespace may not be deleted"))
		}
		if dry {
			return cur, false, nil
		}
		out, err := s.internalUpdate(ctx, res, key, func(o runtime.Object) error {
			ns := o.(*corev1.Namespace)
			if ns.DeletionTimestamp == nil {
				ns.DeletionTimestamp = &now
				z := int64(0)
				ns.DeletionGracePeriodSeconds = &z
			}
			ns.Status.Phase = corev1.NamespaceTerminating
			return nil
		})
		s.wakeNamespaces()
		return out, false, err
	case *corev1.Pod:
		grace = podGrace(obj, opts)
	}
	switch {
	case grace > 0 || len(m.GetFinalizers()) > 0:
		if dry {
			return cur, false, nil
		}
		out, err := s.internalUpdate(ctx, res, key, func(o runtime.Object) error {
			om, _ := meta.Accessor(o)
			if err := precheck(o); err != nil {
				return err
			}
			// A second delete may shorten the grace period, never extend it.
			if g := om.GetDeletionGracePeriodSeconds(); g != nil && *g <= grace {
				return nil
			}
			ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			om.SetDeletionTimestamp(&ts)
			om.SetDeletionGracePeriodSeconds(&grace)
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		if om, _ := meta.Accessor(out); grace == 0 && len(om.GetFinalizers()) == 0 {
			break // the finalizers went meanwhile
		}
		return out, false, nil
	}
	if dry {
		return cur, true, nil
	}
	out, err := s.store.Delete(ctx, key, precheck)
	if err != nil {
		return nil, false, storeErr(res, name, err)
	}
	return out, true, nil
}

// podGrace is the grace period of a pod deletion: the request's, else the
// pod's terminationGracePeriodSeconds; 0 for pods no node runs (unbound
// or finished), which the API server removes at once.
func podGrace(pod *corev1.Pod, opts *metav1.DeleteOptions) int64 {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// internalUpdate changes an object on the server's own behalf.
func (s *Server) internalUpdate(ctx context.Context, res *resource, key string, mutate func(runtime.Object) error) (runtime.Object, error) {
	out, err := s.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		if err := mutate(cur); err != nil {
			return nil, err
		}
		return cur, nil
	})
	if err != nil {
		return nil, storeErr(res, path.Base(key), err)
	}
	return out, nil
}

// internalCreate creates obj unless it exists.
func (s *Server) internalCreate(ctx context.Context, resourceName string, obj runtime.Object) error {
	res := s.byName[resourceName]
	if res == nil {
		return nil // the kind is not served (yet)
	}
	m, _ := meta.Accessor(obj)
	if _, err := s.store.Get(ctx, res.key(m.GetNamespace(), m.GetName())); err == nil {
		return nil
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	_, err := s.createObject(ctx, res, m.GetNamespace(), obj, writeOptions{internal: true})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// bootstrap creates what every cluster has: the four system namespaces and
// the default/kubernetes Service.
func (s *Server) bootstrap(ctx context.Context, port int) error {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if err := s.internalCreate(ctx, "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{corev1.LabelMetadataName: ns}}}); err != nil {
			return err
		}
	}
	single := corev1.IPFamilyPolicySingleStack
	target := intstr.FromInt32(int32(port))
	ip := s.cfg.Services.KubernetesIP().String()
	if u, err := url.Parse(s.url); err == nil {
		if err := s.apiEndpoints(ctx, u.Hostname(), port); err != nil {
			return err
		}
	}
	return s.upsert(ctx, "services", &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       ip,
			ClusterIPs:      []string{ip},
			IPFamilies:      []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:  &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports:           []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: target}},
		},
	}, func(cur runtime.Object) bool {
		// serve may listen on another port, or have another service
		// range, than last time.
		svc, ok := cur.(*corev1.Service)
		if !ok || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort == target && svc.Spec.ClusterIP == ip {
			return false
		}
		svc.Spec.Ports[0].TargetPort = target
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
		return true
	})
}

func (s *Server) wakeNamespaces() {
	select {
	case s.nsWakeup <- struct{}{}:
	default:
	}
}

// namespaceController gives every namespace its default ServiceAccount and
// kube-root-ca.crt ConfigMap, and empties and removes namespaces being
// deleted (upstream's serviceaccount, root-ca-cert-publisher and
// namespace controllers).
func (s *Server) namespaceController(ctx context.Context) {
	nsRes := s.byName["namespaces"]
	if nsRes == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		ch, err := s.store.Watch(ctx, nsRes.prefix(""), 0)
		if err != nil {
			return
		}
		for open := true; open; {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-ch:
				if !ok {
					open = false
					break
				}
				ns, isNS := ev.Object.(*corev1.Namespace)
				if !isNS || ev.Type == watch.Deleted {
					continue
				}
				if ns.DeletionTimestamp == nil {
					s.populateNamespace(ctx, ns.Name)
				} else {
					s.finalizeNamespace(ctx, ns.Name)
				}
			case <-s.nsWakeup:
				s.reconcileAll(ctx, nsRes)
			case <-tick.C:
				s.reconcileAll(ctx, nsRes)
			}
		}
	}
}

func (s *Server) populateNamespace(ctx context.Context, ns string) {
	s.internalCreate(ctx, "serviceaccounts", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})
	s.internalCreate(ctx, "configmaps", &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kube-root-ca.crt", Annotations: map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
		Data:       map[string]string{"ca.crt": string(s.pki.caPEM)},
	})
}

// reconcileAll revisits every namespace: deleted defaults come back (as
// upstream's controllers recreate them) and terminating namespaces whose
// pods have gone are finished.
func (s *Server) reconcileAll(ctx context.Context, nsRes *resource) {
	list, err := s.store.List(ctx, nsRes.prefix(""), storeListAll)
	if err != nil {
		return
	}
	for _, obj := range list.Items {
		ns, ok := obj.(*corev1.Namespace)
		switch {
		case !ok:
		case ns.DeletionTimestamp != nil:
			s.finalizeNamespace(ctx, ns.Name)
		default:
			s.populateNamespace(ctx, ns.Name)
		}
	}
}

// finalizeNamespace deletes what is in ns (pods gracefully) and, once
// nothing is left, drops the kubernetes finalizer and the namespace.
func (s *Server) finalizeNamespace(ctx context.Context, ns string) {
	left := 0
	for _, res := range s.resources {
		if !res.Namespaced {
			continue
		}
		list, err := s.store.List(ctx, res.prefix(ns), storeListAll)
		if err != nil {
			left++
			continue
		}
		for _, obj := range list.Items {
			left++
			m, _ := meta.Accessor(obj)
			if m.GetDeletionTimestamp() != nil {
				continue
			}
			s.deleteObject(ctx, res, ns, m.GetName(), &metav1.DeleteOptions{}, false)
		}
	}
	if left > 0 {
		// Re-listed on the next tick; deletions finish meanwhile.
		if again := s.countIn(ctx, ns); again > 0 {
			return
		}
	}
	nsRes := s.byName["namespaces"]
	_, err := s.internalUpdate(ctx, nsRes, nsRes.key("", ns), func(o runtime.Object) error {
		n := o.(*corev1.Namespace)
		var keep []corev1.FinalizerName
		for _, f := range n.Spec.Finalizers {
			if f != corev1.FinalizerKubernetes {
				keep = append(keep, f)
			}
		}
		n.Spec.Finalizers = keep
		return nil
	})
	if err != nil {
		return
	}
	s.store.Delete(ctx, nsRes.key("", ns), func(o runtime.Object) error {
		if n, ok := o.(*corev1.Namespace); ok && (len(n.Spec.Finalizers) > 0 || len(n.Finalizers) > 0) {
			return apierrors.NewConflict(nsRes.GroupVersionResource().GroupResource(), ns, fmt.Errorf("namespace has finalizers"))
		}
		return nil
	})
}

func (s *Server) countIn(ctx context.Context, ns string) int {
	n := 0
	for _, res := range s.resources {
		if !res.Namespaced {
			continue
		}
		if list, err := s.store.List(ctx, res.prefix(ns), storeListAll); err == nil {
			n += len(list.Items)
		} else {
			n++
		}
	}
	return n
}

// bind is pods/binding, a scheduler's write: it sets spec.nodeName of a
// pod that has none.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, q *request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	def := corev1.SchemeGroupVersion.WithKind("Binding")
	obj, _, err := s.codecs.UniversalDeserializer().Decode(body, &def, &corev1.Binding{})
	b, ok := obj.(*corev1.Binding)
	if err != nil || !ok {
		s.writeError(w, badRequestf("invalid Binding: %v", err))
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, apierrors.NewInvalid(def.GroupKind(), q.name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	gr := schema.GroupResource{Resource: "pods/binding"}
	_, err = s.internalUpdate(r.Context(), q.res, q.key(), func(o runtime.Object) error {
		pod, ok := o.(*corev1.Pod)
		if !ok {
			return badRequestf("binding applies to pods")
		}
		if b.UID != "" && b.UID != pod.UID {
			return apierrors.NewConflict(gr, q.name, preconditionFailed("UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return apierrors.NewConflict(gr, q.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", q.name))
		}
		if pod.Spec.NodeName != "" {
			return apierrors.NewConflict(gr, q.name, fmt.Errorf("pod %s is already assigned to node %q", q.name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		return nil
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}
