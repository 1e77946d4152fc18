package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pulls: a 5-layer image from Debian's docker-registry on loopback,
// pulled into an empty store with one layer at a time and with the
// default concurrency, interleaved.
const (
	pullLayers      = 5
	pullLayerBytes  = 16 << 20 // random, so gzip does not shrink it
	targetPullRatio = 2.0
)

// benchPulls returns the median seconds of serial and parallel pulls, or
// why it could not measure.
func benchPulls(runs int) (serial, parallel []float64, err error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(*outDir, "registry")
	if err := os.RemoveAll(dir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	addr, err := freeLoopbackPort()
	if err != nil {
		return nil, nil, err
	}
	conf := fmt.Sprintf("version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	reg := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	reg.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	reg.Stdout, reg.Stderr = log, log
	if err := reg.Start(); err != nil {
		return nil, nil, err
	}
	defer func() {
		_ = reg.Process.Signal(syscall.SIGTERM)
		_ = reg.Wait()
		_ = os.RemoveAll(dir)
	}()
	if err := waitListening(addr, 10*time.Second); err != nil {
		return nil, nil, fmt.Errorf("docker-registry: %w (see %s)", err, log.Name())
	}
	ref := addr + "/bench/five-layers:latest"
	img, err := random.Image(pullLayerBytes, pullLayers)
	if err != nil {
		return nil, nil, err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, nil, err
	}
	if err := remote.Write(r, img); err != nil {
		return nil, nil, fmt.Errorf("push %s: %w", ref, err)
	}
	for i := 0; i <= runs; i++ { // run 0 is the warm-up
		for _, n := range []int{1, 3} {
			d, err := pullOnce(ref, n)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 {
				continue
			}
			if n == 1 {
				serial = append(serial, d.Seconds())
			} else {
				parallel = append(parallel, d.Seconds())
			}
		}
	}
	return serial, parallel, nil
}

// pullOnce pulls ref into an empty store of its own.
func pullOnce(ref string, downloads int) (time.Duration, error) {
	root, err := os.MkdirTemp(*outDir, "pull-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	cmd := exec.Command(*peapodBin, "--root", root, "--run-root", filepath.Join(root, "run"),
		"image", "pull", "--insecure", fmt.Sprintf("--max-concurrent-downloads=%d", downloads), ref)
	t := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("peapod image pull: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return time.Since(t), nil
}

func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return errors.New("not listening on " + addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
