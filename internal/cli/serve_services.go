package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"peapod/internal/network/services"
	"peapod/internal/network/services/endpoints"
)

func (g *globals) serviceProxy() (*services.Proxy, error) {
	return services.New(services.Config{Table: g.table, PodCIDR: g.podCIDR, Bridge: g.bridge})
}

// startServices runs, against the API server, what kube-proxy does for
// Services, the nftables rules, and with endpointSlices what
// kube-controller-manager does, the endpoints controller, on the
// process's informers (start starts them). The returned function stops
// both and leaves the table: the pods keep running, and the next serve
// resyncs it.
func startServices(ctx context.Context, g *globals, client kubernetes.Interface, f informers.SharedInformerFactory, start func(), s Streams, endpointSlices bool) (func(), error) {
	proxy, err := g.serviceProxy()
	if err != nil {
		return nil, err
	}
	var ctrl *endpoints.Controller
	if endpointSlices {
		if ctrl, err = endpoints.NewController(client, f, slog.New(slog.NewTextHandler(s.Err, nil))); err != nil {
			return nil, err
		}
	}
	svcInf, sliceInf := f.Core().V1().Services(), f.Discovery().V1().EndpointSlices()
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { proxy.Kick() },
		UpdateFunc: func(any, any) { proxy.Kick() },
		DeleteFunc: func(any) { proxy.Kick() },
	}
	var regs []func()
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer()} {
		reg, err := inf.AddEventHandler(kick)
		if err != nil {
			return nil, err
		}
		regs = append(regs, func() { _ = inf.RemoveEventHandler(reg) })
	}
	state := func() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
		svcs, _ := svcInf.Lister().List(labels.Everything())
		slices, _ := sliceInf.Lister().List(labels.Everything())
		return svcs, slices
	}
	start()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if ctrl != nil {
			ctrl.Run(ctx)
		}
	}()
	go func() {
		defer wg.Done()
		// Not before the caches are full: an empty state would drop the
		// rules of running pods.
		if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced) {
			return
		}
		proxy.Run(ctx, state, func(err error) { fmt.Fprintln(s.Err, "peapod:", err) })
	}()
	return func() {
		cancel()
		wg.Wait()
		for _, r := range regs {
			r()
		}
	}, nil
}
