// Package cli is peapod's command line: one file per verb. Each command
// builds its options from flags and calls into the packages that do the
// work; wiring happens here and nowhere else.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"peapod/internal/agent"
	"peapod/internal/image"
	"peapod/internal/network"
	"peapod/internal/network/services"
	"peapod/internal/registry"
	"peapod/internal/runtime"
	"peapod/internal/runtime/conmon"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// globals are the flags every command shares.
type globals struct {
	root    string
	runRoot string
	runtime string
	cgroup  string
	podCIDR string
	bridge  string
	table   string // nftables table of the Services' rules
	// Services' cluster IPs and node ports, as kube-apiserver's flags
	serviceCIDR, nodePorts string
}

// pullModeFlag is --image-pull, the node-level switch of up and serve.
type pullModeFlag struct{ mode *agent.PullMode }

func addPullModeFlag(cmd *cobra.Command, mode *agent.PullMode) {
	*mode = agent.PullMissing
	cmd.Flags().Var(pullModeFlag{mode}, "image-pull", "image pulls: never (local images only), missing (pull what is not stored), policy (follow each container's imagePullPolicy)")
}

func (f pullModeFlag) String() string { return string(*f.mode) }
func (f pullModeFlag) Type() string   { return "never|missing|policy" }

func (f pullModeFlag) Set(s string) error {
	switch m := agent.PullMode(s); m {
	case agent.PullNever, agent.PullMissing, agent.PullPolicy:
		*f.mode = m
		return nil
	}
	return fmt.Errorf("%q is not one of never, missing, policy", s)
}

// exitError carries a command's exit status without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs peapod with args and returns the process exit status.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	err := Run(context.Background(), args, Streams{In: in, Out: out, Err: errOut})
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintln(errOut, "Error:", err)
	return 1
}

// Run runs peapod with args.
func Run(ctx context.Context, args []string, s Streams) error {
	g := &globals{}
	root := &cobra.Command{
		Use:           "peapod",
		Short:         "Run Kubernetes Pods on one Linux machine",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Paths end up in mounts and OCI bundles, which need them absolute.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			for _, p := range []*string{&g.root, &g.runRoot} {
				abs, err := filepath.Abs(*p)
				if err != nil {
					return err
				}
				*p = abs
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.root, "root", envOr("PEAPOD_ROOT", "/var/lib/peapod"), "directory for images, pod state and logs (env PEAPOD_ROOT)")
	root.PersistentFlags().StringVar(&g.runRoot, "run-root", envOr("PEAPOD_RUN_ROOT", "/run/peapod"), "directory for runtime state that does not outlive a reboot (env PEAPOD_RUN_ROOT)")
	root.PersistentFlags().StringVar(&g.runtime, "runtime", envOr("PEAPOD_RUNTIME", "crun"), "OCI runtime: crun or runc, or a path to one (env PEAPOD_RUNTIME)")
	root.PersistentFlags().StringVar(&g.cgroup, "cgroup-root", envOr("PEAPOD_CGROUP_ROOT", "peapod"), "cgroup, in every hierarchy, under which pods are placed (env PEAPOD_CGROUP_ROOT)")
	root.PersistentFlags().StringVar(&g.podCIDR, "pod-cidr", envOr("PEAPOD_POD_CIDR", network.DefaultPodCIDR), "IPv4 network pods get their addresses from (env PEAPOD_POD_CIDR)")
	// Tests give every node a bridge of its own.
	root.PersistentFlags().StringVar(&g.bridge, "bridge", network.DefaultBridge, "Linux bridge of the pod network")
	_ = root.PersistentFlags().MarkHidden("bridge")
	// and an nftables table of its own for the Services.
	root.PersistentFlags().StringVar(&g.table, "nft-table", services.DefaultTable, "nftables table (family ip) of the Services' rules")
	_ = root.PersistentFlags().MarkHidden("nft-table")
	root.PersistentFlags().StringVar(&g.serviceCIDR, "service-cluster-ip-range", envOr("PEAPOD_SERVICE_CIDR", "10.96.0.0/12"), "IPv4 network Services get their cluster IPs from; its first address is the kubernetes Service's (env PEAPOD_SERVICE_CIDR)")
	root.PersistentFlags().StringVar(&g.nodePorts, "service-node-port-range", envOr("PEAPOD_NODE_PORTS", "30000-32767"), "ports NodePort Services get theirs from (env PEAPOD_NODE_PORTS)")
	root.AddCommand(newUpCommand(g, s), newServeCommand(g, s), newAgentCommand(g, s), newImageCommand(g, s), newWhyCommand(s), newVersionCommand(s))
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	return root.ExecuteContext(ctx)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (g *globals) serviceAllocator() (registry.ServiceAllocator, error) {
	return registry.ParseServiceAllocator(g.serviceCIDR, g.nodePorts)
}

func (g *globals) images() (*image.Store, error) {
	return image.Open(filepath.Join(g.root, "images"))
}

func (g *globals) containerRuntime() (*conmon.Runtime, error) {
	return conmon.New(conmon.Config{
		Root:       filepath.Join(g.root, "containers"),
		RunRoot:    g.runRoot,
		Runtime:    g.runtime,
		CgroupRoot: g.cgroup,
	})
}

// podNetwork is the pod network, its state under the run root: addresses,
// veths and rules do not outlive a reboot either. What the pods of a
// crashed peapod left on it (sandboxes rt no longer has) is released first.
func (g *globals) podNetwork(ctx context.Context, rt runtime.Runtime, errOut io.Writer) (*network.CNI, error) {
	podNet, err := network.New(network.Config{Dir: filepath.Join(g.runRoot, "cni"), Bridge: g.bridge, PodCIDR: g.podCIDR})
	if err != nil {
		return nil, err
	}
	sandboxes, err := rt.ListSandboxes(ctx)
	if err != nil {
		return nil, err
	}
	var live []string
	for _, sb := range sandboxes {
		live = append(live, sb.ID)
	}
	if err := podNet.Reconcile(ctx, live); err != nil {
		fmt.Fprintln(errOut, "peapod:", err) // leftovers do not stop new pods
	}
	return podNet, nil
}
