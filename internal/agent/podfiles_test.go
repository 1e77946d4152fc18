package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const managedHosts = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func TestHostsFile(t *testing.T) {
	aliases := []corev1.HostAlias{
		{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}},
		{IP: "10.1.2.3", Hostnames: []string{"foo.remote"}},
	}
	cases := []struct {
		name   string
		spec   corev1.PodSpec
		podIPs []string
		want   string
	}{
		{"plain", corev1.PodSpec{}, nil, managedHosts},
		{"pod ips", corev1.PodSpec{}, []string{"10.88.0.5", "fd00::5"},
			managedHosts + "10.88.0.5\tweb-0\n" + "fd00::5\tweb-0\n"},
		{"subdomain", corev1.PodSpec{Hostname: "h", Subdomain: "sub"}, []string{"10.88.0.5"},
			managedHosts + "10.88.0.5\th.sub.prod.svc.cluster.local\th\n"},
		{"host aliases", corev1.PodSpec{HostAliases: aliases}, []string{"10.88.0.5"},
			managedHosts + "10.88.0.5\tweb-0\n" +
				"\n# Entries added by HostAliases.\n" +
				"127.0.0.1\tfoo.local\tbar.local\n" +
				"10.1.2.3\tfoo.remote\n"},
		{"host network", corev1.PodSpec{HostNetwork: true, HostAliases: aliases[1:]}, []string{"192.168.1.2"},
			"# Kubernetes-managed hosts file (host network).\n" +
				"127.0.0.1 localhost\n::1 localhost\n" +
				"\n# Entries added by HostAliases.\n" +
				"10.1.2.3\tfoo.remote\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "prod"}, Spec: c.spec}
			hostname, domain := podHostname(pod)
			got := string(hostsFile(pod, hostname, domain, c.podIPs, []byte("127.0.0.1 localhost\n::1 localhost\n")))
			if got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	fqdn := true
	cases := []struct {
		name                 string
		pod                  corev1.Pod
		host, domain, kernel string
		err                  bool
	}{
		{name: "pod name", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}, host: "p", kernel: "p"},
		{name: "truncated", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "ns"}}, host: strings.Repeat("a", 62), kernel: strings.Repeat("a", 62)},
		{name: "subdomain", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "h", Subdomain: "s"}},
			host: "h", domain: "s.ns.svc.cluster.local", kernel: "h"},
		{name: "fqdn", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "h", Subdomain: "s", SetHostnameAsFQDN: &fqdn}},
			host: "h", domain: "s.ns.svc.cluster.local", kernel: "h.s.ns.svc.cluster.local"},
		{name: "fqdn too long", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: strings.Repeat("h", 50), Subdomain: "s", SetHostnameAsFQDN: &fqdn}},
			host: strings.Repeat("h", 50), domain: "s.ns.svc.cluster.local", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host, domain := podHostname(&c.pod)
			kernel, err := kernelHostname(&c.pod, host, domain)
			if host != c.host || domain != c.domain || kernel != c.kernel || (err != nil) != c.err {
				t.Errorf("got %q %q %q %v", host, domain, kernel, err)
			}
		})
	}
}

func TestWritePodFiles_HostNetworkUsesNodeHosts(t *testing.T) {
	node, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skip("no /etc/hosts")
	}
	dir := t.TempDir()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{HostNetwork: true}}
	f, err := writePodFiles(dir, pod, "node-1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := os.ReadFile(f.Hosts)
	if want := "# Kubernetes-managed hosts file (host network).\n" + string(node); string(hosts) != want {
		t.Errorf("hosts:\n%s", hosts)
	}
	if name, _ := os.ReadFile(filepath.Join(dir, "etc-hostname")); string(name) != "node-1\n" {
		t.Errorf("hostname file %q", name)
	}
}
