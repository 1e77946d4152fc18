//go:build integration

package cli

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"peapod/internal/testenv"
)

// kubectlProxy runs kubectl proxy on a free port against s and returns
// its URL.
func (s *server) kubectlProxy(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("kubectl", "--kubeconfig", s.kubeconfig, "proxy", "--port=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	m := regexp.MustCompile(`Starting to serve on (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("kubectl proxy said %q: %v", line, err)
	}
	return "http://" + m[1]
}

// The timeline page in a real browser (Debian's chromium, headless): the
// native-sidecar example's rows in start order, and a restart of the
// sidecar drawn live, without a reload.
func TestServe_TimelinePage(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("needs chromium: make deps installs it")
	}
	s := newServer(t)
	// Once the browser is closed, its helpers become ours (the test binary
	// is a child subreaper): reaped before the node's leak check.
	t.Cleanup(func() { testenv.ReapAdoptedChildren(10*time.Second, "chromium", "chrome_crashpad") })
	s.mustKubectl("apply", "-f", "../../examples/native-sidecar-log-shipper.yaml")
	s.mustKubectl("wait", "--for=condition=Ready", "pod/simple-webapp", "--timeout=60s")
	uid := s.mustKubectl("get", "pod", "simple-webapp", "-o", "jsonpath={.metadata.uid}")
	url := s.kubectlProxy(t) + "/timeline/?pod=" + uid

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1100, 420))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(`.row[data-container="web-app"]`)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".row")].map(r => r.dataset.container + " " + r.dataset.role)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"log-shipper sidecar", "web-app main"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("rows %q, want %q", rows, want)
	}
	started, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#entries tr[data-kind=Started]")].map(r => r.dataset.container)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(started, ",") != "log-shipper,web-app" {
		t.Errorf("started %q: the sidecar starts before the app", started)
	}
	// The page says what peapod why says.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("why").textContent.includes("is Ready: every container runs")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Errorf("the page does not say the pod waits for nothing: %v", err)
	}
	// The sidecar's shell exits on TERM; it is restarted, and the open page
	// draws it. When PID 1 exits the kernel kills the rest of its PID
	// namespace, the exec'd kill among them if it has not exited yet: 137
	// is then its answer.
	if out, err := s.kubectl("exec", "simple-webapp", "-c", "log-shipper", "--", "kill", "1"); err != nil && !strings.Contains(out, "exit code 137") {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelectorAll('#entries tr[data-kind=Started][data-container="log-shipper"]').length >= 2 &&
		document.querySelectorAll('#entries tr[data-kind=Exited][data-container="log-shipper"]').length >= 1`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("the sidecar's restart did not appear on the open page: %v", err)
	}
	// The README's picture: PEAPOD_SCREENSHOT=1 writes it again.
	if os.Getenv("PEAPOD_SCREENSHOT") != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "timeline-native-sidecar.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
