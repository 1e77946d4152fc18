package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"peapod/internal/why"
)

// newWhyCommand is `peapod why POD`, also `kubectl peapod why POD` through
// the kubectl-peapod plugin link: what the pod waits for, in a paragraph.
func newWhyCommand(s Streams) *cobra.Command {
	var kubeconfig, namespace string
	cmd := &cobra.Command{
		Use:   "why POD",
		Short: "Say what a pod waits for: the init container, probe, image, volume or Service that holds it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := clientConfig(kubeconfig, namespace)
			ns, _, err := cfg.Namespace()
			if err != nil {
				return err
			}
			rest, err := cfg.ClientConfig()
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(rest)
			if err != nil {
				return err
			}
			facts, err := why.Gather(cmd.Context(), client, ns, args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(s.Out, why.Explain(facts))
			return err
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the one serve writes, ~/.kube/peapod.kubeconfig)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig context's, else default)")
	return cmd
}

// clientConfig finds the API as kubectl would, with serve's kubeconfig
// as the last resort: --kubeconfig, $KUBECONFIG, then the file serve
// writes by default.
func clientConfig(kubeconfig, namespace string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	if kubeconfig == "" && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		rules.ExplicitPath = defaultKubeconfig()
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: namespace}})
}

// defaultKubeconfig is where serve writes its admin kubeconfig unless
// told otherwise.
func defaultKubeconfig() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "peapod.kubeconfig")
}
