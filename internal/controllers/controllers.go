// Package controllers runs kube-controller-manager's workload controllers
// in the serve process, as k3s does: upstream's replication, replicaset,
// deployment and job controllers and the garbage collector, on the
// process's one informer factory. Nothing here is a rewrite: the package
// only wires upstream code to peapod's API.
package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	"k8s.io/kubernetes/pkg/controller/job"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	"k8s.io/kubernetes/pkg/controller/replication"
)

// burstReplicas is kube-controller-manager's default
// --concurrent-*-syncs burst: pods created or deleted per sync.
const burstReplicas = 500

// Workers are the controllers' worker counts (kube-controller-manager's
// defaults are 5 each, 20 for the garbage collector; one machine needs
// fewer).
const (
	workers   = 2
	gcWorkers = 4
)

// Controllers are the upstream workload controllers, built on one
// informer factory.
type Controllers struct {
	run []func(ctx context.Context)
}

// New asks inf for what the controllers watch; start inf after, then Run.
func New(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, inf informers.SharedInformerFactory, started <-chan struct{}) (*Controllers, error) {
	c := &Controllers{}
	core, apps, batch := inf.Core().V1(), inf.Apps().V1(), inf.Batch().V1()

	rc := replication.NewReplicationManager(ctx, core.Pods(), core.ReplicationControllers(), client, burstReplicas)
	rs := replicaset.NewReplicaSetController(ctx, apps.ReplicaSets(), core.Pods(), client, burstReplicas)
	dc, err := deployment.NewDeploymentController(ctx, apps.Deployments(), apps.ReplicaSets(), core.Pods(), client)
	if err != nil {
		return nil, fmt.Errorf("deployment controller: %w", err)
	}
	jc, err := job.NewController(ctx, core.Pods(), batch.Jobs(), client)
	if err != nil {
		return nil, fmt.Errorf("job controller: %w", err)
	}
	// The garbage collector follows every kind discovery lists as
	// deletable, through the typed informers of the same factory.
	cached := memory.NewMemCacheClient(client.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	gc, err := garbagecollector.NewGarbageCollector(ctx, client, meta, mapper, garbagecollector.DefaultIgnoredResources(), typedOnly{inf}, started)
	if err != nil {
		return nil, fmt.Errorf("garbage collector: %w", err)
	}
	c.run = []func(ctx context.Context){
		func(ctx context.Context) { rc.Run(ctx, workers) },
		func(ctx context.Context) { rs.Run(ctx, workers) },
		func(ctx context.Context) { dc.Run(ctx, workers) },
		func(ctx context.Context) { jc.Run(ctx, workers) },
		func(ctx context.Context) { gc.Run(ctx, gcWorkers, time.Minute) },
		func(ctx context.Context) { gc.Sync(ctx, cached, 30*time.Second) },
	}
	return c, nil
}

// Run runs every controller until ctx ends.
func (c *Controllers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, run := range c.run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	wg.Wait()
}

// typedOnly is the garbage collector's informer factory on the typed one
// alone: every kind peapod serves is built in, so no metadata-only
// informers (a second factory) are needed.
type typedOnly struct {
	informers.SharedInformerFactory
}

func (t typedOnly) ForResource(gvr schema.GroupVersionResource) (informers.GenericInformer, error) {
	return t.SharedInformerFactory.ForResource(gvr)
}
