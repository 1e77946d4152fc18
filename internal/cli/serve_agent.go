package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/kubelet/token"

	"peapod/internal/agent"
	"peapod/internal/runtime/conmon"
	"peapod/internal/timeline"
)

// startNodeAgent runs the node agent against the API server, exactly as it
// would run against a remote cluster, on the process's informers (start
// starts what was asked of them). The returned function stops it and
// waits: pods keep running, for the next serve to adopt.
func startNodeAgent(ctx context.Context, g *globals, rt *conmon.Runtime, f *serveFlags, client kubernetes.Interface, inf informers.SharedInformerFactory, start func(), book *timeline.Book, s Streams) (func(), error) {
	images, err := g.images()
	if err != nil {
		return nil, err
	}
	podNet, err := g.podNetwork(ctx, rt, s.Err)
	if err != nil {
		return nil, err
	}
	logMaxSize := resource.MustParse(f.logMaxSize) // validated by runServe
	nameservers, stopDNS := startServeDNS(ctx, inf, start, podNet.HostIP(), s.Err)
	node, err := agent.NewNode(agent.NodeConfig{
		Client:         client,
		RuntimeVersion: "peapod://" + version,
		Worker: agent.Config{
			Runtime:    rt,
			Images:     images,
			PodsDir:    filepath.Join(g.root, "pods"),
			LogsDir:    filepath.Join(g.root, "logs"),
			SeccompDir: filepath.Join(g.root, "seccomp"),
			Pull:       f.pull,
			Network:    podNet,
			// ClusterFirst pods resolve through the cluster DNS.
			ClusterDNS: nameservers,
			// Projected tokens, cached and renewed as the kubelet does.
			Tokens: token.NewManager(client),
		},
		MaxPods:              f.maxPods,
		ContainerLogMaxSize:  logMaxSize.Value(),
		ContainerLogMaxFiles: f.logMaxFiles,
		LogMonitorPeriod:     f.logMonitorInterval,
		Informers:            inf,
		Log:                  slog.New(slog.NewTextHandler(s.Err, nil)),
		Timeline:             book,
	})
	if err != nil {
		stopDNS()
		return nil, err
	}
	start()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := node.Run(ctx); err != nil {
			fmt.Fprintln(s.Err, "peapod: node agent:", err)
		}
	}()
	return func() {
		cancel()
		<-done
		stopDNS()
	}, nil
}
