package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"

	"k8s.io/klog/v2"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"peapod/internal/apiserver"
	"peapod/internal/controllers"
	"peapod/internal/controlplane"
)

// startControlPlane writes the objects every cluster has and starts the
// namespace controller and kube-controller-manager's workload controllers
// on the process's informers; stop waits for them.
func startControlPlane(ctx context.Context, srv *apiserver.Server, client kubernetes.Interface, kubernetesIP, advertise netip.Addr, inf informers.SharedInformerFactory, start func(), errOut io.Writer) (stop func(), err error) {
	// The upstream controllers log through klog: their warnings and
	// errors go to stderr with the rest of serve's log, their progress
	// notes (kube-controller-manager's -v=0 Info lines) are left out.
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn})))
	api, err := controlplane.APIAt(srv.URL(), advertise, kubernetesIP)
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
	meta, err := metadata.NewForConfig(loopback)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ns := controlplane.NewNamespaces(client, dyn, inf, loopback.CAData)
	started := make(chan struct{})
	workloads, err := controllers.New(ctx, client, meta, inf, started)
	if err != nil {
		cancel()
		return nil, err
	}
	start()
	close(started)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){ns.Run, workloads.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	return func() { cancel(); wg.Wait() }, nil
}
