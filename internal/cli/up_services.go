package cli

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/agent"
	"peapod/internal/network/services"
	"peapod/internal/network/services/endpoints"
	"peapod/internal/registry"
)

// allocateServices defaults the Services of up's files and gives them
// their cluster IPs and node ports as the API server would, then
// validates them.
func allocateServices(alloc registry.ServiceAllocator, svcs []*corev1.Service) error {
	var done []corev1.Service
	for _, svc := range svcs {
		if svc.Namespace == "" {
			svc.Namespace = corev1.NamespaceDefault
		}
		registry.DefaultService(svc)
		if err := alloc.Allocate(svc, done); err != nil {
			return fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		if err := registry.ValidateService(svc); err != nil {
			return fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		done = append(done, *svc)
	}
	return nil
}

// upServices proxies the Services of up's files to up's own pods: the
// workers' statuses reach it through the Reporter, and their endpoints
// are what serve's controller would write (endpoints.Compute).
type upServices struct {
	agent.Reporter
	proxy *services.Proxy
	svcs  []*corev1.Service
	mu    sync.Mutex
	pods  map[types.UID]*corev1.Pod
}

func (u *upServices) Status(pod *corev1.Pod) {
	u.Reporter.Status(pod)
	u.mu.Lock()
	u.pods[pod.UID] = pod
	u.mu.Unlock()
	u.proxy.Kick()
}

func (u *upServices) state() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	u.mu.Lock()
	pods := make([]*corev1.Pod, 0, len(u.pods))
	for _, p := range u.pods {
		pods = append(pods, p)
	}
	u.mu.Unlock()
	var slices []*discoveryv1.EndpointSlice
	for _, svc := range u.svcs {
		if endpoints.Managed(svc) {
			_, s := endpoints.Compute(svc, pods)
			slices = append(slices, s...)
		}
	}
	return u.svcs, slices
}

// startUpServices puts svcs on the node until the returned function is
// called, which removes the table: up's pods are gone by then.
func startUpServices(ctx context.Context, g *globals, svcs []*corev1.Service, rep agent.Reporter, s Streams) (*upServices, func() error, error) {
	proxy, err := g.serviceProxy()
	if err != nil {
		return nil, nil, err
	}
	u := &upServices{Reporter: rep, proxy: proxy, svcs: svcs, pods: map[types.UID]*corev1.Pod{}}
	// The first sync happens here, so a client pod never meets a table
	// that is not there yet.
	all, slices := u.state()
	if err := proxy.Sync(ctx, all, slices); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy.Run(ctx, u.state, func(err error) { fmt.Fprintln(s.Err, "peapod:", err) })
	}()
	return u, func() error {
		cancel()
		<-done
		return proxy.Remove(context.Background())
	}, nil
}
