package endpoints

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Controller keeps the Endpoints and EndpointSlices of every Service with
// a selector equal to Compute's, through the API, as kube-controller-
// manager's two controllers do.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	eps      corelisters.EndpointsLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
}

// NewController registers its handlers on f's Service, Pod, Endpoints and
// EndpointSlice informers; start f, then Run.
func NewController(client kubernetes.Interface, f informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	svcInf := f.Core().V1().Services()
	podInf := f.Core().V1().Pods()
	epInf := f.Core().V1().Endpoints()
	sliceInf := f.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   client,
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		eps:      epInf.Lister(),
		slices:   sliceInf.Lister(),
		synced:   []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		log:      log,
	}
	key := func(obj any) {
		if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(k)
		}
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: key, UpdateFunc: func(_, n any) { key(n) }, DeleteFunc: key,
	}); err != nil {
		return nil, err
	}
	// A pod change may concern any service of its namespace (old labels
	// or new); at one node's scale, requeueing them all is cheap.
	podChanged := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		svcs, _ := c.services.Services(p.Namespace).List(labels.Everything())
		for _, s := range svcs {
			key(s)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: podChanged, UpdateFunc: func(_, n any) { podChanged(n) }, DeleteFunc: podChanged,
	}); err != nil {
		return nil, err
	}
	// Someone else changing what we own: put it back.
	owned := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		switch o := obj.(type) {
		case *corev1.Endpoints:
			c.queue.Add(o.Namespace + "/" + o.Name)
		case *discoveryv1.EndpointSlice:
			if o.Labels[managedTag] == ManagedBy && o.Labels[serviceTag] != "" {
				c.queue.Add(o.Namespace + "/" + o.Labels[serviceTag])
			}
		}
	}
	// Not on add: Endpoints written before their Service must survive
	// (the upstream controller only watches their deletion too).
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: owned}); err != nil {
		return nil, err
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, n any) { owned(n) }, DeleteFunc: owned,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil && ctx.Err() == nil {
			c.log.Warn("endpoints", "service", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// No garbage collector in peapod: remove what the owner's
		// deletion would have collected.
		return c.deleteOwned(ctx, ns, name, nil, true)
	}
	if err != nil {
		return err
	}
	if !Managed(svc) {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	ep, slices := Compute(svc, pods)
	if err := c.applyEndpoints(ctx, ep); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, s := range slices {
		keep[s.Name] = true
		if err := c.applySlice(ctx, s); err != nil {
			return err
		}
	}
	return c.deleteOwned(ctx, ns, name, keep, false)
}

func (c *Controller) applyEndpoints(ctx context.Context, want *corev1.Endpoints) error {
	api := c.client.CoreV1().Endpoints(want.Namespace)
	old, err := c.eps.Endpoints(want.Namespace).Get(want.Name)
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpoints %s/%s: cache behind: %w", want.Namespace, want.Name, err)
		}
		return err
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(old.Subsets, want.Subsets) && apiequality.Semantic.DeepEqual(old.Labels, want.Labels) {
		return nil
	}
	upd := old.DeepCopy()
	upd.Subsets, upd.Labels = want.Subsets, want.Labels
	_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
	return err
}

func (c *Controller) applySlice(ctx context.Context, want *discoveryv1.EndpointSlice) error {
	api := c.client.DiscoveryV1().EndpointSlices(want.Namespace)
	old, err := c.slices.EndpointSlices(want.Namespace).Get(want.Name)
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(old.Endpoints, want.Endpoints) && apiequality.Semantic.DeepEqual(old.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(old.Labels, want.Labels) && apiequality.Semantic.DeepEqual(old.OwnerReferences, want.OwnerReferences) {
		return nil
	}
	upd := old.DeepCopy()
	upd.Endpoints, upd.Ports, upd.Labels, upd.OwnerReferences = want.Endpoints, want.Ports, want.Labels, want.OwnerReferences
	_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
	return err
}

// deleteOwned removes service's managed slices not in keep and, when the
// service is gone, its Endpoints.
func (c *Controller) deleteOwned(ctx context.Context, ns, service string, keep map[string]bool, endpoints bool) error {
	sel := labels.SelectorFromSet(labels.Set{serviceTag: service, managedTag: ManagedBy})
	slices, err := c.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return err
	}
	for _, s := range slices {
		if keep[s.Name] {
			continue
		}
		if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if !endpoints {
		return nil
	}
	if _, err := c.eps.Endpoints(ns).Get(service); err != nil {
		return nil
	}
	err = c.client.CoreV1().Endpoints(ns).Delete(ctx, service, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
