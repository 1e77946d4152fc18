package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap"

	"peapod/internal/agent"
	"peapod/internal/kubeletapi"
	"peapod/internal/podconnect"
)

type agentFlags struct {
	nodeFlags
	kubeconfig, bootstrapKubeconfig string
	nodeName, nodeIP                string
	port                            int
	clientCAFile                    string
	clusterDNS                      []string
}

func newAgentCommand(g *globals, s Streams) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Join a Kubernetes cluster as a node: run the pods its scheduler binds here",
		Long: `agent is this machine's kubelet for a Kubernetes cluster: it registers a
Node (renewing its Lease in kube-node-lease), runs the pods the cluster's
scheduler binds to it with the same agent as serve, and serves the
kubelet's API (logs, exec, attach, port-forward) on --node-ip:--port to the
API server's client certificate. It stands in for kube-proxy too (give it
the ClusterRole system:node-proxier for that).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), g, f, cmd.Flags().Changed("pod-cidr"), s)
		},
	}
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the node's identity (system:node:NAME); with --bootstrap-kubeconfig, where the one it gets is written")
	cmd.Flags().StringVar(&f.bootstrapKubeconfig, "bootstrap-kubeconfig", "", "kubeconfig of a bootstrap token: the node asks for its client certificate (a CSR) with it when --kubeconfig has none, as kubeadm join")
	cmd.Flags().StringVar(&f.nodeName, "node-name", "", "the Node's name (default: the hostname)")
	cmd.Flags().StringVar(&f.nodeIP, "node-ip", "", "the node's address for the cluster, where the kubelet API listens (default: the pod network's gateway, for a control plane on this machine)")
	cmd.Flags().IntVar(&f.port, "port", 10250, "port of the kubelet API")
	cmd.Flags().StringVar(&f.clientCAFile, "client-ca-file", "", "CA whose client certificates the kubelet API takes (default: the kubeconfig's cluster CA)")
	cmd.Flags().StringSliceVar(&f.clusterDNS, "cluster-dns", nil, "nameservers of ClusterFirst pods, as the kubelet's flag (default: a cluster DNS this agent serves on the gateway)")
	addNodeFlags(cmd, &f.nodeFlags)
	return cmd
}

func runAgent(ctx context.Context, g *globals, f *agentFlags, podCIDRSet bool, s Streams) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.kubeconfig == "" {
		return errors.New("--kubeconfig is required: the node's credentials, or where --bootstrap-kubeconfig's are written")
	}
	if f.port <= 0 || f.port > 65535 {
		return fmt.Errorf("invalid configuration: port (--port) %d must be between 1 and 65535, inclusive", f.port)
	}
	if f.nodeIP != "" && net.ParseIP(f.nodeIP) == nil {
		return fmt.Errorf("--node-ip %q is not an IP address", f.nodeIP)
	}
	name := strings.ToLower(f.nodeName)
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		name = strings.ToLower(h)
	}
	signal.Ignore(syscall.SIGPIPE) // as serve: conmons outlive a dead reader
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.bootstrapKubeconfig != "" {
		// The kubelet's own bootstrap: a CSR signed as
		// kubernetes.io/kube-apiserver-client-kubelet, its certificate
		// kept under the root.
		if err := bootstrap.LoadClientCert(ctx, f.kubeconfig, f.bootstrapKubeconfig, filepath.Join(g.root, "pki"), types.NodeName(name)); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return err
	}
	// The kubelet's kubeAPIQPS and kubeAPIBurst (client-go's 5 and 10
	// hold a busy node's status writes and events back for seconds).
	cfg.QPS, cfg.Burst = 50, 100
	clientCA, err := agentClientCA(cfg, f.clientCAFile)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if !podCIDRSet {
		// The CIDR the controller manager gave the node, as the kubelet.
		if node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil && node.Spec.PodCIDR != "" {
			g.podCIDR = node.Spec.PodCIDR
		}
	}
	rt, err := g.containerRuntime()
	if err != nil {
		return err
	}

	// The process's one informer factory; its pods are this node's only,
	// as the kubelet watches them.
	ctx, cancel := context.WithCancel(ctx)
	inf := informers.NewSharedInformerFactory(client, informerResync)
	defer func() {
		cancel()
		inf.Shutdown()
	}()
	inf.InformerFor(&corev1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewFilteredPodInformer(c, metav1.NamespaceAll, resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
			func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + name })
	})
	start := func() { inf.Start(ctx.Done()) }
	services := servicesAllowed(ctx, client, s)
	clusterDNS := f.clusterDNS
	if !services && len(clusterDNS) == 0 {
		clusterDNS = []string{} // no DNS of our own either: it serves Services
	}
	// Events through a client of their own, as the kubelet's (its
	// eventRecordQPS and eventBurst are 50 and 100 too).
	eventClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nc := agent.NodeConfig{
		Client: client, EventClient: eventClient, Informers: inf, Name: name, InternalIP: f.nodeIP, KubeletPort: int32(f.port),
		ObjectsPerPod: true, LeaseDuration: 40 * time.Second,
	}
	podNet, stopAgent, err := startNodeAgent(ctx, g, rt, &f.nodeFlags, nc, clusterDNS, start, s)
	if err != nil {
		return err
	}
	defer stopAgent()
	ip := f.nodeIP
	if ip == "" {
		ip = podNet.HostIP().String()
	}
	api, err := kubeletapi.Start(kubeletapi.Config{
		Addr:     net.JoinHostPort(ip, fmt.Sprint(f.port)),
		ClientCA: clientCA,
		CertDir:  filepath.Join(g.root, "pki"),
		Hosts:    []string{ip, name},
		NodeName: name,
		Pods:     inf.Core().V1().Pods().Lister(),
		GetPod: func(ctx context.Context, namespace, pod string) (*corev1.Pod, error) {
			return client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		},
		Streams: podconnect.Handler{Node: agent.NewStreams(rt, filepath.Join(g.root, "logs"))},
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.Shutdown(sctx)
	}()
	if services {
		stopServices, err := startServices(ctx, g, client, inf, start, s, false)
		if err != nil {
			return err
		}
		defer stopServices()
	}
	start()
	fmt.Fprintf(s.Out, "peapod: node %s joined %s; kubelet API on %s\n", name, cfg.Host, api.Addr())
	fmt.Fprintln(s.Out, "peapod: ready")
	<-ctx.Done()
	fmt.Fprintln(s.Err, "peapod: shutting down")
	return nil
}

// agentClientCA is the CA of the kubelet API's clients: --client-ca-file,
// or the cluster CA the kubeconfig trusts (kubeadm's clientCAFile).
func agentClientCA(cfg *rest.Config, file string) ([]byte, error) {
	switch {
	case file != "":
		return os.ReadFile(file)
	case len(cfg.TLSClientConfig.CAData) > 0:
		return cfg.TLSClientConfig.CAData, nil
	case cfg.TLSClientConfig.CAFile != "":
		return os.ReadFile(cfg.TLSClientConfig.CAFile)
	}
	return nil, errors.New("no --client-ca-file and no CA in the kubeconfig: the kubelet API would know no client")
}

// servicesAllowed tells whether the node may watch what kube-proxy does
// (EndpointSlices, beyond a node's own rights), and says what to grant
// when it may not.
func servicesAllowed(ctx context.Context, client kubernetes.Interface, s Streams) bool {
	_, err := client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{Limit: 1})
	if apierrors.IsForbidden(err) {
		fmt.Fprintln(s.Err, "peapod: no Services on this node (proxy and cluster DNS): the node may not list EndpointSlices; bind the ClusterRole system:node-proxier to it, as kube-proxy's")
		return false
	}
	return true
}
