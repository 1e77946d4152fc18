package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"peapod/internal/runtime/conmon"
)

var podmanErr error // why podman is not compared, if it is not

func podmanCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", append([]string{
		"--root", filepath.Join(*outDir, "podman/root"),
		"--runroot", filepath.Join(*outDir, "podman/runroot"),
		"--storage-driver", "overlay",
	}, args...)...)
	cmd.Env = append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(*outDir, "containers.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(*outDir, "registries.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs cmd to completion; cleanup waits for it before taking pods down.
func run(cmd *exec.Cmd) error {
	podmanMu.Lock()
	defer podmanMu.Unlock()
	mu.Lock()
	st := stopping
	mu.Unlock()
	if st {
		return errStopping
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// setupPodman writes podman's private configuration (host-notes.md,
// "Podman as the benchmark peer") and imports the busybox OCI layout.
func setupPodman() error {
	if _, err := exec.LookPath("podman"); err != nil {
		return err
	}
	p := filepath.Join(*outDir, "podman")
	for _, d := range []string{"root", "runroot", "tmp", "networks"} {
		if err := os.MkdirAll(filepath.Join(p, d), 0o700); err != nil {
			return err
		}
	}
	// The peer runs the crun peapod runs (the static build of `make deps`,
	// hack/build-crun.sh): the ratios then compare the two engines, not two
	// builds of their OCI runtime.
	crun, err := conmon.LookRuntime("crun")
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`# written by hack/bench: podman's configuration for the benchmark only
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %[1]q
runtime = "crun"
tmp_dir = %[2]q

[engine.runtimes]
crun = [%[4]q]

[network]
network_backend = "netavark"
network_config_dir = %[3]q
`, filepath.Join(p, "events.log"), filepath.Join(p, "tmp"), filepath.Join(p, "networks"), crun)
	if err := os.WriteFile(filepath.Join(*outDir, "containers.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	// No registries: short names resolve in the local store or fail.
	reg := "unqualified-search-registries = []\nshort-name-mode = \"permissive\"\n"
	if err := os.WriteFile(filepath.Join(*outDir, "registries.conf"), []byte(reg), 0o644); err != nil {
		return err
	}
	if err := run(podmanCmd("info")); err != nil {
		return err
	}
	if err := podmanNetwork(); err != nil {
		return err
	}
	// Pods say image: busybox; podman resolves it to docker.io/library/busybox:latest.
	if _, err := exec.LookPath("skopeo"); err != nil {
		return err
	}
	// Copy only when the store lacks this manifest: skopeo writes its blob
	// info cache under /var/lib/containers/cache when it copies.
	index, err := os.ReadFile(filepath.Join(*layout, "index.json"))
	if err != nil {
		return err
	}
	have, _ := podmanCmd("image", "inspect", "--format", "{{.Digest}}", "docker.io/library/busybox:latest").Output()
	if d := strings.TrimSpace(string(have)); d != "" && bytes.Contains(index, []byte(`"`+d+`"`)) {
		return podmanDownAllOnce()
	}
	dest := fmt.Sprintf("containers-storage:[overlay@%s+%s]docker.io/library/busybox:latest",
		filepath.Join(p, "root"), filepath.Join(p, "runroot"))
	if err := run(exec.Command("skopeo", "copy", "--quiet", "oci:"+*layout, dest)); err != nil {
		return err
	}
	return podmanDownAllOnce()
}

// podmanNetwork creates podman's bridge network on a free /24 (the
// first 10.253.N.0/24 no route or address of the host's overlaps, unless
// -podman-subnet names one). Its configuration is in the private config
// dir; netavark makes the bridge and its rules while a pod is on it, and
// cleanup removes the network.
func podmanNetwork() error {
	_ = podmanCmd("network", "rm", "--force", bridgeName).Run() // one an interrupted run left
	if *subnet == "" {
		taken, err := hostNets()
		if err != nil {
			return err
		}
		for i := 0; i < 256 && *subnet == ""; i++ {
			_, n, _ := net.ParseCIDR(fmt.Sprintf("10.253.%d.0/24", i))
			if !slices.ContainsFunc(taken, func(t *net.IPNet) bool { return t.Contains(n.IP) || n.Contains(t.IP) }) {
				*subnet = n.String()
			}
		}
		if *subnet == "" {
			return errors.New("no free /24 in 10.253.0.0/16 for podman's bridge network")
		}
	}
	mu.Lock()
	podmanNet = true
	mu.Unlock()
	return run(podmanCmd("network", "create", "--subnet", *subnet, bridgeName))
}

// hostNets are the host's IPv4 routes and interface networks.
func hostNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, n)
		}
	}
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue // the default route overlaps everything and nothing
		}
		le := func(v uint64) net.IP { return net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
		m := le(mask).To4()
		nets = append(nets, &net.IPNet{IP: le(dst).To4(), Mask: net.IPMask(m)})
	}
	return nets, nil
}

// podmanDownAllOnce removes pods an interrupted run may have left (play
// would fail on them) and makes cleanup take them down from now on.
func podmanDownAllOnce() error {
	mu.Lock()
	podmanUsed = true
	mu.Unlock()
	podmanDownAll()
	return nil
}

// podmanRun plays s, calls idle (if not nil), and takes it down.
func podmanRun(s scenario, tool string, idle func() error) (up, down time.Duration, err error) {
	network := "none"
	if tool == podmanBridge {
		network = bridgeName
	}
	t0 := time.Now()
	err = run(podmanCmd("kube", "play", "--network", network, s.file))
	up = time.Since(t0)
	time.Sleep(hold)
	if err == nil && idle != nil {
		time.Sleep(memSettleDelay)
		err = idle()
	}
	t1 := time.Now()
	downErr := run(podmanCmd("kube", "down", s.file))
	down = time.Since(t1)
	if err == nil {
		err = downErr
	}
	return up, down, err
}

var podmanUsed, podmanNet bool

func podmanDownAll() {
	for _, f := range []string{"one.yaml", "three.yaml"} {
		_ = podmanCmd("kube", "down", filepath.Join(*podsDir, f)).Run()
	}
	_ = podmanCmd("pod", "rm", "--force", "--ignore", "bench-one", "bench-three").Run()
}

// cleanup stops every peapod still running and takes podman's pods down.
func cleanup() {
	mu.Lock()
	stopping = true
	var cmds []*exec.Cmd
	for c := range running {
		cmds = append(cmds, c)
	}
	mu.Unlock()
	for _, c := range cmds {
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			_ = c.Process.Signal(os.Interrupt) // a second one stops at once
			select {
			case <-done:
			case <-time.After(stopTimeout):
				_ = c.Process.Kill()
			}
		}
	}
	podmanMu.Lock() // let a play that is under way finish first
	defer podmanMu.Unlock()
	mu.Lock()
	used, withNet := podmanUsed, podmanNet
	mu.Unlock()
	if used {
		podmanDownAll()
	}
	if withNet {
		_ = podmanCmd("network", "rm", "--force", bridgeName).Run()
	}
}
