// Command kubecluster runs the upstream control plane of make
// test-cluster (internal/testenv/kubecluster) until SIGTERM, for a peapod
// agent to join by hand or for the conformance run against it
// (hack/conformance.sh with CLUSTER=1). It writes admin.kubeconfig and
// node-NAME.kubeconfig under -dir and prints "ready".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"peapod/internal/testenv/kubecluster"
)

func main() {
	bin := flag.String("bin", os.ExpandEnv("$HOME/.cache/peapod-cluster/bin"), "directory of the binaries hack/cluster/build.sh builds")
	dir := flag.String("dir", "", "where certificates, kubeconfigs, etcd's data and logs go")
	serviceCIDR := flag.String("service-cluster-ip-range", "10.0.0.0/24", "the API server's service range")
	node := flag.String("node", "peapod-node", "write the kubeconfig of this node")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "kubecluster: -dir is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := kubecluster.Start(ctx, kubecluster.Config{BinDir: *bin, Dir: *dir, ServiceCIDR: *serviceCIDR})
	if c != nil {
		defer c.Stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecluster:", err)
		return
	}
	nodeKC, err := c.NodeKubeconfig(*node)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecluster:", err)
		return
	}
	fmt.Printf("admin: %s\nnode %s: %s\nready\n", c.AdminKubeconfig, *node, nodeKC)
	<-ctx.Done()
}
