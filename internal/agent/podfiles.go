package agent

import (
	"fmt"
	"os"
	"path/filepath"
)

// writePodFiles writes the kubelet-managed /etc/hosts, /etc/hostname and
// /etc/resolv.conf of a pod. The pod IP line and cluster DNS come with pod
// networking; until then resolv.conf is the host's (dnsPolicy Default).
func writePodFiles(podDir, hostname string) (podFiles, error) {
	f := podFiles{
		Hosts:      filepath.Join(podDir, "etc-hosts"),
		Hostname:   filepath.Join(podDir, "etc-hostname"),
		ResolvConf: filepath.Join(podDir, "resolv.conf"),
	}
	hosts := "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n"
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil // no host resolver: an empty file, as with dnsPolicy None
	}
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.Hosts, []byte(hosts)},
		{f.Hostname, []byte(hostname + "\n")},
		{f.ResolvConf, resolv},
	} {
		if err := os.WriteFile(w.path, w.data, 0o644); err != nil {
			return f, fmt.Errorf("write %s: %w", w.path, err)
		}
	}
	return f, nil
}
