package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/testenv"
)

// Scenario 5: the committed invalid corpus answered as kube-apiserver
// answers it, then every fuzz target for -fuzztime.
func hostileInput(r *runner) (string, error) {
	corpus := exec.Command("go", "test", "-count=1", "-run", "Corpus", "./internal/apiserver/")
	if out, err := corpus.CombinedOutput(); err != nil {
		return "", fmt.Errorf("the invalid corpus: %w\n%s", err, out)
	}
	lines, err := countLines("internal/apiserver/testdata/invalid/corpus.jsonl")
	if err != nil {
		return "", err
	}
	t := time.Now()
	fuzz := exec.Command("make", "--no-print-directory", "fuzz", "FUZZTIME="+*fuzzTime)
	out, err := fuzz.CombinedOutput()
	targets := strings.Count(string(out), "\nfuzz ") + map[bool]int{true: 1}[strings.HasPrefix(string(out), "fuzz ")]
	figures := fmt.Sprintf("%d invalid requests answered as kube-apiserver does (no 500, nothing stored); %d fuzz targets × %s in %.0f s", lines, targets, *fuzzTime, time.Since(t).Seconds())
	if err != nil {
		return figures, fmt.Errorf("fuzzing: %w\n%s", err, out)
	}
	return figures, nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// Scenario 6: the escape probes (testenv.EscapePods) under serve, against
// the API server's own key.
func escapeProbes(r *runner) (string, error) {
	if err := r.start(); err != nil {
		return "", err
	}
	keys, _ := filepath.Glob(filepath.Join(r.Root(), "pki", "*.key"))
	if len(keys) == 0 {
		return "", errors.New("no key under the root's pki")
	}
	if err := r.apply("escape.yaml", testenv.EscapePods(keys[0], "busybox:1.36")); err != nil {
		return "", err
	}
	var bad []string
	deadline := time.Now().Add(2 * time.Minute)
	for _, pc := range [][2]string{{"escape", "default"}, {"escape", "restricted"}, {"escape-privileged", "privileged"}} {
		var out []byte
		for {
			p, err := r.Client.CoreV1().Pods("default").Get(context.Background(), pc[0], metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodSucceeded {
				if out, err = r.Kubectl("logs", pc[0], "-c", pc[1]).Output(); err != nil {
					return "", fmt.Errorf("kubectl logs %s -c %s: %w", pc[0], pc[1], err)
				}
				break
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("pod %s did not succeed", pc[0])
			}
			time.Sleep(200 * time.Millisecond)
		}
		bad = append(bad, testenv.CheckEscape(pc[1], string(out))...)
	}
	probes := len(testenv.EscapeWant["default"])
	figures := fmt.Sprintf("%d probes × 3 containers (default, NET_RAW dropped + RuntimeDefault seccomp, privileged with the host's namespaces): %d answers unlike the expected", probes, len(bad))
	if len(bad) > 0 {
		return figures, errors.New(strings.Join(bad, "; "))
	}
	return figures, r.deleteAndCheck()
}

// Scenario 8: no credentials and a foreign CA's certificate get 401; serve
// listens on loopback and its pods' gateway only; its keys and kubeconfig
// are its owner's only.
func apiAccess(r *runner) (string, error) {
	if err := r.start(); err != nil {
		return "", err
	}
	var errs []error
	url := r.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/kube-system/secrets").URL().String()
	foreign, err := testenv.ForeignAdmin()
	if err != nil {
		return "", err
	}
	for _, c := range []struct {
		who   string
		certs []tls.Certificate
	}{{"no credentials", nil}, {"a system:masters certificate of another CA", []tls.Certificate{foreign}}} {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: c.certs}}}
		resp, err := client.Get(url)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.who, err))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			errs = append(errs, fmt.Errorf("%s: %d, want 401", c.who, resp.StatusCode))
		}
	}
	addrs, err := listening(r.Serve.Process.Pid)
	if err != nil {
		return "", err
	}
	_, pods, err := net.ParseCIDR(*podCIDR)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		// The pods' gateway is where they reach the kubernetes Service.
		if !a.IsLoopback() && !pods.Contains(a) {
			errs = append(errs, fmt.Errorf("serve listens on %s", a))
		}
	}
	files, _ := filepath.Glob(filepath.Join(r.Root(), "pki", "*.key"))
	files = append(files, r.Kubeconfig())
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			errs = append(errs, fmt.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm()))
		}
	}
	var shown []string
	for _, a := range addrs {
		shown = append(shown, a.String())
	}
	slices.Sort(shown)
	return fmt.Sprintf("no credentials and a foreign CA's admin certificate: 401; listening on %s; %d keys and the kubeconfig 0600",
		strings.Join(slices.Compact(shown), ", "), len(files)-1), errors.Join(errs...)
}

// listening lists the local addresses of the TCP sockets pid listens on.
func listening(pid int) ([]net.IP, error) {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []net.IP
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			hexIP, _, _ := strings.Cut(f[1], ":")
			raw, err := hex.DecodeString(hexIP)
			if err != nil {
				continue
			}
			// /proc/net/tcp prints each 32-bit word in host (little-endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			out = append(out, net.IP(raw))
		}
	}
	return out, nil
}
