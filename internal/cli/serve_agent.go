package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/kubernetes/pkg/kubelet/token"

	"peapod/internal/agent"
	"peapod/internal/network"
	"peapod/internal/runtime/conmon"
)

// startNodeAgent runs the node agent nc describes (its client, informers
// and role) with the mechanisms of this machine and f, on the process's
// informers (start starts what was asked of them). The cluster DNS runs
// beside it when clusterDNS is nil; otherwise it names the pods'
// nameservers (none: the host's). The returned function stops it and
// waits: pods keep running, for the next agent to adopt.
func startNodeAgent(ctx context.Context, g *globals, rt *conmon.Runtime, f *nodeFlags, nc agent.NodeConfig, clusterDNS []string, start func(), s Streams) (*network.CNI, func(), error) {
	images, err := g.images()
	if err != nil {
		return nil, nil, err
	}
	podNet, err := g.podNetwork(ctx, rt, s.Err)
	if err != nil {
		return nil, nil, err
	}
	if nc.KubeletPort != 0 && nc.InternalIP == "" {
		// The cluster reaches the node on its gateway from the start,
		// before a pod's network makes the bridge.
		if err := podNet.UpBridge(); err != nil {
			return nil, nil, err
		}
	}
	logMaxSize := resource.MustParse(f.logMaxSize) // validated by validate
	nameservers, stopDNS := clusterDNS, func() {}
	if nameservers == nil {
		nameservers, stopDNS = startServeDNS(ctx, nc.Informers, start, podNet.HostIP(), s.Err)
	}
	nc.RuntimeVersion = "peapod://" + version
	nc.Worker = agent.Config{
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
		Tokens: token.NewManager(nc.Client),
	}
	nc.MaxPods = f.maxPods
	nc.ContainerLogMaxSize = logMaxSize.Value()
	nc.ContainerLogMaxFiles = f.logMaxFiles
	nc.LogMonitorPeriod = f.logMonitorInterval
	nc.Log = slog.New(slog.NewTextHandler(s.Err, nil))
	node, err := agent.NewNode(nc)
	if err != nil {
		stopDNS()
		return nil, nil, err
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
	return podNet, func() {
		cancel()
		<-done
		stopDNS()
	}, nil
}
