package controlplane

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// rootCAName is the ConfigMap every namespace gets with the cluster's CA.
const rootCAName = "kube-root-ca.crt"

// rootCADescription is the annotation upstream's publisher sets.
const rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

// emptyRetry is how soon a terminating namespace is looked at again while
// its content is still going (pods wait for their node).
const emptyRetry = time.Second

// Namespaces is the namespace controller: every live namespace has the
// default ServiceAccount and the kube-root-ca.crt ConfigMap (deleted ones
// come back), and a terminating namespace is emptied, finalized and
// deleted.
type Namespaces struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
	rootCA  []byte

	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	// Two queues, as kube-controller-manager has two controllers: a new
	// namespace's default ServiceAccount, which its pods wait for, is
	// never held up by namespaces being emptied.
	populate, finalize workqueue.TypedDelayingInterface[string]
}

// NewNamespaces asks inf for what it watches; start inf after.
func NewNamespaces(client kubernetes.Interface, dyn dynamic.Interface, inf informers.SharedInformerFactory, rootCA []byte) *Namespaces {
	core := inf.Core().V1()
	c := &Namespaces{
		client: client, dynamic: dyn, rootCA: rootCA,
		namespaces: core.Namespaces().Lister(),
		accounts:   core.ServiceAccounts().Lister(),
		configMaps: core.ConfigMaps().Lister(),
		populate:   workqueue.NewTypedDelayingQueue[string](),
		finalize:   workqueue.NewTypedDelayingQueue[string](),
	}
	enqueueNS := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			if ns.DeletionTimestamp != nil {
				c.finalize.Add(ns.Name)
			} else {
				c.populate.Add(ns.Name)
			}
		}
	}
	// A deleted or changed default brings its namespace back for a look.
	enqueueOwner := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			if o.Name == "default" {
				c.populate.Add(o.Namespace)
			}
		case *corev1.ConfigMap:
			if o.Name == rootCAName {
				c.populate.Add(o.Namespace)
			}
		}
	}
	nsInf := core.Namespaces().Informer()
	nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueueNS, UpdateFunc: func(_, obj any) { enqueueNS(obj) }})
	saInf := core.ServiceAccounts().Informer()
	saInf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: enqueueOwner})
	cmInf := core.ConfigMaps().Informer()
	cmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) { enqueueOwner(obj) }, DeleteFunc: enqueueOwner})
	c.synced = []cache.InformerSynced{nsInf.HasSynced, saInf.HasSynced, cmInf.HasSynced}
	return c
}

// Run works the queues until ctx ends.
func (c *Namespaces) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		c.populate.ShutDown()
		c.finalize.ShutDown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	work := func(q workqueue.TypedDelayingInterface[string], n int, sync func(context.Context, string) bool) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					name, quit := q.Get()
					if quit {
						return
					}
					if again := sync(ctx, name); again {
						q.AddAfter(name, emptyRetry)
					}
					q.Done(name)
				}
			}()
		}
	}
	// Several finalizing workers, as the namespace controller's
	// --concurrent-namespace-syncs: one namespace slow to empty does not
	// hold up the others. The queue never gives one name to two workers.
	work(c.populate, 2, c.syncLive)
	work(c.finalize, 5, c.syncTerminating)
	wg.Wait()
}

// syncLive gives a live namespace its defaults; again asks for another
// look soon (a write failed).
func (c *Namespaces) syncLive(ctx context.Context, name string) (again bool) {
	ns, err := c.namespaces.Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		return true
	case ns.DeletionTimestamp != nil:
		c.finalize.Add(name)
		return false
	}
	return c.populateNS(ctx, ns.Name) != nil
}

// syncTerminating empties, finalizes and deletes a terminating
// namespace; again while its content is still going.
func (c *Namespaces) syncTerminating(ctx context.Context, name string) (again bool) {
	ns, err := c.namespaces.Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		return true
	case ns.DeletionTimestamp == nil:
		return false
	}
	return c.finalizeNS(ctx, ns)
}

// populateNS makes ns's default ServiceAccount and kube-root-ca.crt.
func (c *Namespaces) populateNS(ctx context.Context, ns string) error {
	if _, err := c.accounts.ServiceAccounts(ns).Get("default"); apierrors.IsNotFound(err) {
		_, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !isTerminating(err) {
			return err
		}
	}
	data := map[string]string{"ca.crt": string(c.rootCA)}
	cm, err := c.configMaps.ConfigMaps(ns).Get(rootCAName)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: rootCAName, Annotations: map[string]string{"kubernetes.io/description": rootCADescription}},
			Data:       data,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || isTerminating(err) {
			err = nil
		}
	case err == nil && cm.Data["ca.crt"] != data["ca.crt"]:
		cm = cm.DeepCopy()
		cm.Data = data
		_, err = c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	}
	return err
}

// isTerminating is the refusal of a create in a namespace being deleted.
func isTerminating(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err)
}

// finalizeNS deletes what ns holds (pods gracefully, through the API) and,
// once nothing is left, drops the kubernetes finalizer through
// namespaces/finalize and deletes the namespace again, which then goes.
func (c *Namespaces) finalizeNS(ctx context.Context, ns *corev1.Namespace) (again bool) {
	if slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		left, err := c.deleteContent(ctx, ns.Name)
		if err != nil || left > 0 {
			return true
		}
		ns = ns.DeepCopy()
		ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		if ns, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return !apierrors.IsNotFound(err)
		}
	}
	if len(ns.Spec.Finalizers) > 0 {
		return false // another finalizer's owner finishes it
	}
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}})
	return err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err)
}

// deleteContent deletes every namespaced object in ns, kind by kind as
// discovery lists them, and counts what is still there.
func (c *Namespaces) deleteContent(ctx context.Context, ns string) (left int, err error) {
	lists, err := c.client.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		return 0, err
	}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if !slices.Contains(r.Verbs, "deletecollection") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			res := c.dynamic.Resource(gv.WithResource(r.Name)).Namespace(ns)
			if err := res.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
			items, err := res.List(ctx, metav1.ListOptions{})
			if err != nil {
				return 0, err
			}
			left += len(items.Items)
		}
	}
	return left, nil
}
