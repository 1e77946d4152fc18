package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"peapod/internal/agent"
	"peapod/internal/agent/logrotation"
	"peapod/internal/apiserver"
	"peapod/internal/network"
	"peapod/internal/podconnect"
	"peapod/internal/registry"
	"peapod/internal/satoken"
	"peapod/internal/store"
	"peapod/internal/timeline"
	"peapod/internal/why"
)

type serveFlags struct {
	nodeFlags
	listen     string
	kubeconfig string
	eventTTL   time.Duration
}

// nodeFlags are the node agent's, under serve and agent alike.
type nodeFlags struct {
	pull    agent.PullMode
	maxPods int
	// The kubelet's container log rotation flags.
	logMaxSize         string
	logMaxFiles        int
	logMonitorInterval time.Duration
}

func addNodeFlags(cmd *cobra.Command, f *nodeFlags) {
	cmd.Flags().IntVar(&f.maxPods, "max-pods", agent.MaxPods, "pods this node runs at most, as the kubelet's --max-pods")
	cmd.Flags().StringVar(&f.logMaxSize, "container-log-max-size", "10Mi", "a container's log is rotated when it reaches this size, as the kubelet's flag")
	cmd.Flags().IntVar(&f.logMaxFiles, "container-log-max-files", logrotation.DefaultMaxFiles, "log files a container keeps at most, the live one included, as the kubelet's flag")
	cmd.Flags().DurationVar(&f.logMonitorInterval, "container-log-monitor-interval", 10*time.Second, "how often container logs are checked for rotation, as the kubelet's containerLogMonitorInterval")
	addPullModeFlag(cmd, &f.pull)
}

// validate checks the flags as the kubelet's configuration validation,
// word for word.
func (f *nodeFlags) validate() error {
	if f.maxPods < 0 {
		return fmt.Errorf("invalid configuration: maxPods (--max-pods) %d must not be a negative number", f.maxPods)
	}
	if f.logMaxFiles <= 1 {
		return fmt.Errorf("invalid configuration: containerLogMaxFiles (--container-log-max-files) %d must be greater than 1", f.logMaxFiles)
	}
	if f.logMonitorInterval < 3*time.Second {
		return errors.New("invalid configuration: containerLogMonitorInterval must be a positive time duration greater than or equal to 3s")
	}
	if q, err := resource.ParseQuantity(f.logMaxSize); err != nil || q.Sign() <= 0 {
		return fmt.Errorf("invalid configuration: containerLogMaxSize (--container-log-max-size) %q must be a positive resource quantity", f.logMaxSize)
	}
	return nil
}

func newServeCommand(g *globals, s Streams) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Kubernetes API (kubectl) and run its pods on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, f, s)
		},
	}
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:6443", "address:port of the API server (port 0: a free one)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig-out", defaultKubeconfig(), "where to write the admin kubeconfig")
	cmd.Flags().DurationVar(&f.eventTTL, "event-ttl", time.Hour, "how long events are kept after their last write, as kube-apiserver's --event-ttl")
	addNodeFlags(cmd, &f.nodeFlags)
	return cmd
}

func runServe(ctx context.Context, g *globals, f *serveFlags, s Streams) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.eventTTL <= 0 {
		return fmt.Errorf("--event-ttl must be positive, not %s", f.eventTTL)
	}
	if w := listenWarning(f.listen); w != "" {
		fmt.Fprintln(s.Err, w)
	}
	// Ignored, which the conmons serve starts inherit: a conmon still
	// creating its container when serve dies writes its result to a pipe
	// nobody reads, and must outlive that (EPIPE) rather than die of
	// SIGPIPE, leaving a container no monitor logs or reaps.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	alloc, err := g.serviceAllocator()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(g.root, "store"), 0o700); err != nil {
		return err
	}
	bolt, err := store.OpenBolt(filepath.Join(g.root, "store", "peapod.db"), store.BoltOptions{Scheme: registry.NewScheme()})
	if err != nil {
		return err
	}
	defer bolt.Close()
	st, err := store.NewExpiring(ctx, bolt, "/events/", f.eventTTL, nil)
	if err != nil {
		return err
	}
	go st.Run(ctx, min(time.Minute, max(f.eventTTL/4, time.Second)))
	// One runtime (one reaper, one table of exits) for the node agent and
	// its streaming side: logs, exec, attach, port-forward reach the
	// containers through it, as kube-apiserver reaches the kubelet.
	rt, err := g.containerRuntime()
	if err != nil {
		return err
	}
	// Pods reach the API (the kubernetes Service's endpoint) and the node
	// (its InternalIP) on their gateway, the bridge's address.
	gateway, err := network.Gateway(g.podCIDR)
	if err != nil {
		return err
	}
	tokens, err := satoken.Load(filepath.Join(g.root, "pki"))
	if err != nil {
		return err
	}
	// Each pod's timeline, drawn at /timeline/, kept while the pod is.
	book, err := timeline.NewBook(filepath.Join(g.root, "timeline"))
	if err != nil {
		return err
	}
	// The page says what a pod waits for as peapod why does, through
	// the loopback client (made at the first ask: srv is set by then).
	var srv *apiserver.Server
	whyClient := sync.OnceValues(func() (kubernetes.Interface, error) { return kubernetes.NewForConfig(srv.LoopbackConfig()) })
	explain := func(ctx context.Context, namespace, name string) (string, error) {
		client, err := whyClient()
		if err != nil {
			return "", err
		}
		facts, err := why.Gather(ctx, client, namespace, name)
		if err != nil {
			return "", err
		}
		return why.Explain(facts), nil
	}
	srv, err = apiserver.New(apiserver.Config{
		Store:        st,
		Resources:    registry.Resources(alloc, tokens),
		PKIDir:       filepath.Join(g.root, "pki"),
		Listen:       f.listen,
		KubernetesIP: alloc.KubernetesIP(),
		Tokens:       tokens,
		Advertise:    gateway,
		Connect:      podconnect.Handler{Node: agent.NewStreams(rt, filepath.Join(g.root, "logs"))},
		Timeline:     timeline.Handler(book, explain),
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.WriteKubeconfig(f.kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "peapod: API server listening on %s\n", srv.URL())
	fmt.Fprintf(s.Out, "export KUBECONFIG=%s\n", f.kubeconfig)
	fmt.Fprintln(s.Out, "peapod: pod timelines: run kubectl proxy, then open http://127.0.0.1:8001/timeline/")
	loopback := srv.LoopbackConfig()
	if err := waitReady(ctx, loopback); err != nil {
		return err
	}

	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	// The process's one informer factory: each component asks it for
	// what it watches, then it is started (again) for what was asked
	// since; its informers end with ctx, after the components.
	ctx, cancel := context.WithCancel(ctx)
	inf := informers.NewSharedInformerFactory(client, informerResync)
	defer func() {
		cancel()
		inf.Shutdown()
	}()
	start := func() { inf.Start(ctx.Done()) }

	// The control plane's own objects and loops, before anything else
	// writes: a pod applied after "ready" finds its namespace.
	stopControlPlane, err := startControlPlane(ctx, srv, client, alloc.KubernetesIP(), gateway, inf, start, s.Err)
	if err != nil {
		return err
	}
	defer stopControlPlane()

	// node agent: it leaves its pods running when serve stops. Its events
	// and its bindings (the scheduler's) each have a client, so a request
	// budget, of their own, as in a cluster.
	eventClient, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	schedulerClient, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	nc := agent.NodeConfig{Client: client, EventClient: eventClient, SchedulerClient: schedulerClient, Informers: inf, Timeline: book, Bind: true}
	_, stopAgent, err := startNodeAgent(ctx, g, rt, &f.nodeFlags, nc, nil, start, s)
	if err != nil {
		return err
	}
	defer stopAgent()
	// Services: endpoints and the nftables rules, next to the agent.
	stopServices, err := startServices(ctx, g, client, inf, start, s, true)
	if err != nil {
		return err
	}
	defer stopServices()

	// Parsing client-go's schema for server-side apply leaves ~tens of MB
	// of garbage; hand it back rather than carry it while idle.
	debug.FreeOSMemory()
	fmt.Fprintln(s.Out, "peapod: ready")
	<-ctx.Done()
	fmt.Fprintln(s.Err, "peapod: shutting down")
	return nil
}

// informerResync is how often the informers replay everything: the
// endpoints controller then retries a write it missed, the proxy resyncs
// its rules, and the node agent syncs every pod again.
const informerResync = 5 * time.Minute

// waitReady polls /readyz through the loopback client until it answers.
func waitReady(ctx context.Context, cfg *rest.Config) error {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("API server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listenWarning is what serve says when --listen takes the API beyond
// this machine (anything but a loopback address), "" otherwise. Pods reach
// it on their bridge's address in any case.
func listenWarning(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "" // Start reports the bad address
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
		return ""
	}
	return fmt.Sprintf("peapod: warning: --listen %s serves the API beyond this machine; it takes only client certificates of peapod's CA and service-account tokens, but keep the port behind a firewall", listen)
}
