package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// clusterDomain is the domain of subdomain FQDNs; the kubelet takes it from
// --cluster-domain, which clusters set to this.
const clusterDomain = "cluster.local"

// podHostname is the kubelet's GeneratePodHostNameAndDomain: spec.hostname
// or the pod name, cut to 63 characters without a trailing '-' or '.', and
// with spec.subdomain the domain <subdomain>.<ns>.svc.<cluster domain>.
func podHostname(pod *corev1.Pod) (hostname, domain string) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

// kernelHostname is the name the pod's UTS namespace gets: the FQDN with
// setHostnameAsFQDN and a subdomain, which the kernel caps at 64 bytes.
func kernelHostname(pod *corev1.Pod, hostname, domain string) (string, error) {
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || domain == "" {
		return hostname, nil
	}
	fqdn := hostname + "." + domain
	if len(fqdn) > 64 {
		return "", fmt.Errorf("pod %s/%s: hostname %q too long (64 characters max) for setHostnameAsFQDN", pod.Namespace, pod.Name, fqdn)
	}
	return fqdn, nil
}

// hostsFile is the kubelet's /etc/hosts (managedHostsFileContent and, with
// hostNetwork, nodeHostsFileContent): tab-separated, one line per pod IP,
// then the hostAliases.
func hostsFile(pod *corev1.Pod, hostname, domain string, podIPs []string, nodeHosts []byte) []byte {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(nodeHosts)
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n" +
			"127.0.0.1\tlocalhost\n" +
			"::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\n" +
			"fe00::0\tip6-mcastprefix\n" +
			"fe00::1\tip6-allnodes\n" +
			"fe00::2\tip6-allrouters\n")
		for _, ip := range podIPs {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// writePodFiles writes the kubelet-managed /etc/hosts, /etc/hostname and
// /etc/resolv.conf of a pod. kernelName is the sandbox's hostname (the
// node's with hostNetwork); podIPs are empty until pods have networking.
// Without clusterDNS, ClusterFirst falls back to the host's resolvers
// (dnsPolicy Default), as the kubelet does without a cluster DNS.
func writePodFiles(podDir string, pod *corev1.Pod, kernelName string, podIPs, clusterDNS []string) (podFiles, error) {
	f := podFiles{
		Hosts:      filepath.Join(podDir, "etc-hosts"),
		Hostname:   filepath.Join(podDir, "etc-hostname"),
		ResolvConf: filepath.Join(podDir, "resolv.conf"),
	}
	var nodeHosts []byte
	if pod.Spec.HostNetwork {
		var err error
		if nodeHosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return f, fmt.Errorf("pod %s/%s: hostNetwork hosts file: %w", pod.Namespace, pod.Name, err)
		}
	}
	hostname, domain := podHostname(pod)
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		hostResolv = nil // no host resolver: as if it were empty
	}
	resolv := resolvConf(pod, hostResolv, clusterDNS, clusterDomain)
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.Hosts, hostsFile(pod, hostname, domain, podIPs, nodeHosts)},
		{f.Hostname, []byte(kernelName + "\n")},
		{f.ResolvConf, resolv},
	} {
		if err := os.WriteFile(w.path, w.data, 0o644); err != nil {
			return f, fmt.Errorf("pod %s/%s: write %s: %w", pod.Namespace, pod.Name, w.path, err)
		}
	}
	return f, nil
}
