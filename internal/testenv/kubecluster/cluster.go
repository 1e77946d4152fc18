// Package kubecluster runs the upstream Kubernetes control plane for
// tests: an embedded etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler (built by hack/cluster/build.sh), on loopback, with one
// CA for every certificate, as kubeadm lays them out. A peapod agent joins
// it as a node with NodeKubeconfig.
package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"peapod/internal/testenv"
)

// Config says where the binaries are and how the cluster is laid out.
type Config struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler.
	BinDir string
	// Dir keeps the certificates, kubeconfigs, etcd's data and each
	// component's log (<name>.log).
	Dir string
	// ServiceCIDR is --service-cluster-ip-range.
	ServiceCIDR string
	// NodeMonitorGracePeriod is the controller manager's flag: how long a
	// node's Lease may go unrenewed before it is NotReady; 20 s here.
	NodeMonitorGracePeriod time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	cfg    Config
	ca     *testenv.CA
	server string // https://127.0.0.1:PORT
	procs  []*exec.Cmd
	// AdminKubeconfig is system:masters' (kubectl's).
	AdminKubeconfig string
}

// Start runs the control plane and waits until the API server is ready.
// Stop ends it, also when Start fails.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.NodeMonitorGracePeriod == 0 {
		cfg.NodeMonitorGracePeriod = 20 * time.Second
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%w (make test-cluster builds it with hack/cluster/build.sh)", err)
		}
	}
	pki := filepath.Join(cfg.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, err
	}
	ca, err := newAuthority(pki)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, ca: ca}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	for _, cert := range []struct {
		name, cn string
		groups   []string
	}{
		{"admin", "kubernetes-admin", []string{"system:masters"}},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}},
		{"controller-manager", "system:kube-controller-manager", nil},
		{"scheduler", "system:kube-scheduler", nil},
	} {
		if err := issue(ca, pki, cert.name, cert.cn, cert.groups); err != nil {
			return nil, err
		}
		if err := c.writeKubeconfig(cert.name); err != nil {
			return nil, err
		}
	}
	if err := issue(ca, pki, "apiserver", "kube-apiserver", nil, "127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"); err != nil {
		return nil, err
	}
	if err := serviceAccountKeys(pki); err != nil {
		return nil, err
	}
	c.AdminKubeconfig = filepath.Join(cfg.Dir, "admin.kubeconfig")

	p := func(name string) string { return filepath.Join(pki, name) }
	kc := filepath.Join(cfg.Dir, "controller-manager.kubeconfig")
	sc := filepath.Join(cfg.Dir, "scheduler.kubeconfig")
	if err := c.run("etcd", "-data-dir", filepath.Join(cfg.Dir, "etcd"),
		"-listen-client", "127.0.0.1:"+strconv.Itoa(ports[0]), "-listen-peer", "127.0.0.1:"+strconv.Itoa(ports[1])); err != nil {
		return c, err
	}
	if err := c.run("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"), "--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range="+cfg.ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--enable-bootstrap-token-auth=true", "--allow-privileged=true",
		// Its Endpoints may not hold a loopback address.
		"--endpoint-reconciler-type=none",
	); err != nil {
		return c, err
	}
	if err := c.waitReady(ctx); err != nil {
		return c, err
	}
	if err := c.run("kube-controller-manager",
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=true",
		"--controllers=*,bootstrapsigner,tokencleaner",
		"--root-ca-file="+p("ca.crt"), "--service-account-private-key-file="+p("sa.key"),
		"--cluster-signing-cert-file="+p("ca.crt"), "--cluster-signing-key-file="+p("ca.key"),
		"--service-cluster-ip-range="+cfg.ServiceCIDR,
		"--node-monitor-grace-period="+cfg.NodeMonitorGracePeriod.String(),
	); err != nil {
		return c, err
	}
	if err := c.run("kube-scheduler",
		"--kubeconfig="+sc, "--authentication-kubeconfig="+sc, "--authorization-kubeconfig="+sc,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
	); err != nil {
		return c, err
	}
	return c, c.grantNodeProxier(ctx)
}

// Server is the API server's URL.
func (c *Cluster) Server() string { return c.server }

// CACert is the path of the cluster CA's certificate.
func (c *Cluster) CACert() string { return filepath.Join(c.cfg.Dir, "pki", "ca.crt") }

// NodeKubeconfig writes the kubeconfig of node name (system:node:NAME in
// system:nodes, what the node authorizer knows) and returns its path.
func (c *Cluster) NodeKubeconfig(name string) (string, error) {
	base := "node-" + name
	if err := issue(c.ca, filepath.Join(c.cfg.Dir, "pki"), base, "system:node:"+name, []string{"system:nodes"}); err != nil {
		return "", err
	}
	return filepath.Join(c.cfg.Dir, base+".kubeconfig"), c.writeKubeconfig(base)
}

// BootstrapKubeconfig makes a bootstrap token and the bindings kubeadm
// makes for it (system:bootstrappers may ask for a node's client
// certificate, and such requests are approved), and writes the kubeconfig
// that holds it, as kubeadm join's.
func (c *Cluster) BootstrapKubeconfig(ctx context.Context) (string, error) {
	client, err := c.adminClient()
	if err != nil {
		return "", err
	}
	const id, secret = "peapod", "0123456789abcdef"
	token := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: metav1.NamespaceSystem},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": id, "token-secret": secret,
			"usage-bootstrap-authentication": "true",
			"auth-extra-groups":              "system:bootstrappers:peapod",
		},
	}
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, token, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	for name, role := range map[string]string{
		"peapod:kubelet-bootstrap":          "system:node-bootstrapper",
		"peapod:node-autoapprove-bootstrap": "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
	} {
		if err := bindGroup(ctx, client, name, role, "system:bootstrappers"); err != nil {
			return "", err
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthority: c.CACert()}
	kc.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: id + "." + secret}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "bootstrap"}
	kc.CurrentContext = "default"
	path := filepath.Join(c.cfg.Dir, "bootstrap.kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

// Log is what component (etcd, kube-apiserver, ...) wrote.
func (c *Cluster) Log(component string) string {
	b, _ := os.ReadFile(filepath.Join(c.cfg.Dir, component+".log"))
	return string(b)
}

// Stop ends every component, the last started first.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		cmd := c.procs[i]
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	c.procs = nil
}

func (c *Cluster) writeKubeconfig(name string) error {
	p := filepath.Join(c.cfg.Dir, "pki", name)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthority: c.CACert()}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificate: p + ".crt", ClientKey: p + ".key"}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "user"}
	cfg.CurrentContext = "default"
	return clientcmd.WriteToFile(*cfg, filepath.Join(c.cfg.Dir, name+".kubeconfig"))
}

// run starts component with args, its output to <Dir>/<component>.log.
func (c *Cluster) run(component string, args ...string) error {
	log, err := os.Create(filepath.Join(c.cfg.Dir, component+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(c.cfg.BinDir, component), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	c.procs = append(c.procs, cmd)
	return nil
}

func (c *Cluster) admin() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
}

func (c *Cluster) adminClient() (kubernetes.Interface, error) {
	cfg, err := c.admin()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// waitReady polls /readyz as the admin until it answers 200.
func (c *Cluster) waitReady(ctx context.Context) error {
	cfg, err := c.admin()
	if err != nil {
		return err
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("kube-apiserver not ready after 2 min: %v\n%s", err, c.Log("kube-apiserver"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// grantNodeProxier gives the nodes kube-proxy's rights: a peapod agent
// stands in for kube-proxy (Services' rules and the cluster DNS).
func (c *Cluster) grantNodeProxier(ctx context.Context) error {
	client, err := c.adminClient()
	if err != nil {
		return err
	}
	return bindGroup(ctx, client, "peapod:node-proxier", "system:node-proxier", "system:nodes")
}

// bindGroup binds the ClusterRole role to group.
func bindGroup(ctx context.Context, client kubernetes.Interface, name, role, group string) error {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
	}
	_, err := client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	return err
}

// freePorts finds n ports free on 127.0.0.1 now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
