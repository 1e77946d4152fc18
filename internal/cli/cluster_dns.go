package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"peapod/internal/agent"
	"peapod/internal/network/dns"
)

// clusterDNSAddr is where the cluster DNS listens: the node's address on
// the pod network, port 53, unless PEAPOD_CLUSTER_DNS says another
// host:port, or "off" (pods then use the host's resolvers).
func clusterDNSAddr(hostIP net.IP) string {
	if v := os.Getenv("PEAPOD_CLUSTER_DNS"); v != "" {
		return v
	}
	return net.JoinHostPort(hostIP.String(), "53")
}

// startClusterDNS serves src; a failure to listen is reported and leaves
// the pods on the host's resolvers rather than failing the command.
func startClusterDNS(hostIP net.IP, src dns.Source, errOut io.Writer) (nameservers []string, stop func()) {
	addr := clusterDNSAddr(hostIP)
	if addr == "off" {
		return nil, func() {}
	}
	srv, err := dns.Start(dns.Config{Addr: addr, Source: src, Upstreams: dns.Upstreams("/etc/resolv.conf", addr)})
	if err != nil {
		fmt.Fprintln(errOut, "peapod: no cluster DNS, pods use the host's resolvers:", err)
		return nil, func() {}
	}
	host, _, _ := net.SplitHostPort(srv.Addr())
	return []string{host}, func() {
		if err := srv.Close(); err != nil {
			fmt.Fprintln(errOut, "peapod: cluster DNS:", err)
		}
	}
}

// dnsReporter hands up's pod statuses to its cluster DNS (pod records,
// endpoints of headless Services).
type dnsReporter struct {
	agent.Reporter
	src *dns.Static
}

func (r dnsReporter) Status(pod *corev1.Pod) {
	r.src.SetPod(pod)
	r.Reporter.Status(pod)
}

// startUpDNS is the cluster DNS of `peapod up`: the Services of its files
// (their cluster IPs allocated) and its pods as rep sees them.
func startUpDNS(hostIP net.IP, svcs []*corev1.Service, rep agent.Reporter, errOut io.Writer) (nameservers []string, _ agent.Reporter, stop func()) {
	src := dns.NewStatic(svcs)
	nameservers, stop = startClusterDNS(hostIP, src, errOut)
	if nameservers == nil {
		return nil, rep, stop
	}
	return nameservers, dnsReporter{Reporter: rep, src: src}, stop
}

// startServeDNS is the cluster DNS of `peapod serve`, on the process's
// informers (start starts them); it answers once their caches are
// filled, so no pod meets a DNS that does not know the Services yet.
func startServeDNS(ctx context.Context, inf informers.SharedInformerFactory, start func(), hostIP net.IP, errOut io.Writer) (nameservers []string, stop func()) {
	if clusterDNSAddr(hostIP) == "off" {
		return nil, func() {}
	}
	svcs, slices, pods := inf.Core().V1().Services(), inf.Discovery().V1().EndpointSlices(), inf.Core().V1().Pods()
	src := dns.Listers{ServiceLister: svcs.Lister(), EndpointSliceLister: slices.Lister(), PodLister: pods.Lister()}
	synced := []cache.InformerSynced{svcs.Informer().HasSynced, slices.Informer().HasSynced, pods.Informer().HasSynced}
	start()
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), synced...) {
		fmt.Fprintln(errOut, "peapod: no cluster DNS, its informers did not sync")
		return nil, func() {}
	}
	return startClusterDNS(hostIP, src, errOut)
}
