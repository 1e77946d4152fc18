package cli

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"peapod/internal/apiserver"
	"peapod/internal/controlplane"
)

// startControlPlane writes the objects every cluster has and starts the
// namespace controller on the process's informers; stop waits for it.
func startControlPlane(ctx context.Context, srv *apiserver.Server, client kubernetes.Interface, kubernetesIP netip.Addr, inf informers.SharedInformerFactory, start func()) (stop func(), err error) {
	api, err := controlplane.APIAt(srv.URL(), kubernetesIP)
	if err != nil {
		return nil, err
	}
	if err := controlplane.Bootstrap(ctx, client, api); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	loopback := srv.LoopbackConfig()
	dyn, err := dynamic.NewForConfig(loopback)
	if err != nil {
		return nil, err
	}
	ns := controlplane.NewNamespaces(client, dyn, inf, loopback.CAData)
	start()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ns.Run(ctx)
	}()
	return func() { cancel(); wg.Wait() }, nil
}
