package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"peapod/internal/agent"
	"peapod/internal/runtime/conmon"
)

// startNodeAgent runs the node agent against the API server at loopback,
// exactly as it would run against a remote cluster. The returned function
// stops it and waits: pods keep running, for the next serve to adopt.
func startNodeAgent(ctx context.Context, g *globals, rt *conmon.Runtime, pull agent.PullMode, loopback *rest.Config, s Streams) (func(), error) {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return nil, err
	}
	images, err := g.images()
	if err != nil {
		return nil, err
	}
	podNet, err := g.podNetwork(ctx, rt, s.Err)
	if err != nil {
		return nil, err
	}
	nameservers, stopDNS := startServeDNS(ctx, client, podNet.HostIP(), s.Err)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := agent.RunNode(ctx, agent.NodeConfig{
			Client:         client,
			RuntimeVersion: "peapod://" + version,
			Worker: agent.Config{
				Runtime: rt,
				Images:  images,
				PodsDir: filepath.Join(g.root, "pods"),
				LogsDir: filepath.Join(g.root, "logs"),
				Pull:    pull,
				Network: podNet,
				// ClusterFirst pods resolve through the cluster DNS.
				ClusterDNS: nameservers,
			},
			Log: slog.New(slog.NewTextHandler(s.Err, nil)),
		})
		if err != nil {
			fmt.Fprintln(s.Err, "peapod: node agent:", err)
		}
	}()
	return func() {
		cancel()
		<-done
		stopDNS()
	}, nil
}
