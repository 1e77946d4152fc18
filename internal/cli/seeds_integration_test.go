//go:build integration

package cli

import (
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"peapod/internal/image/debian"
)

// debianImage is a newNode extra: spec's image on busybox, named ref;
// the test skips when spec's packages are not installed.
func debianImage(t *testing.T, ref string, spec debian.Spec) func(v1.Image) (string, v1.Image) {
	return func(bb v1.Image) (string, v1.Image) {
		img, err := debian.Build(bb, debian.Host, spec)
		if err != nil {
			t.Skipf("image %s: %v", ref, err)
		}
		return ref, img
	}
}

// seedImages are the images the seeds use besides busybox: nginx and
// nginx/nginx-prometheus-exporter:0.9.0, for newNode or newServer.
func seedImages(t *testing.T) []func(v1.Image) (string, v1.Image) {
	return []func(v1.Image) (string, v1.Image){
		debianImage(t, "docker.io/library/nginx:latest", debian.Nginx),
		debianImage(t, "docker.io/nginx/nginx-prometheus-exporter:0.9.0", debian.NginxPrometheusExporter),
	}
}

// seedNode is a node with the images the seeds use: busybox, nginx and
// nginx/nginx-prometheus-exporter:0.9.0.
func seedNode(t *testing.T) *node {
	return newNode(t, seedImages(t)...)
}

func seedOutput(t *testing.T, out, errOut string, code int, want ...string) {
	t.Helper()
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// The init container pattern: nginx serves the index.html an init
// container wrote into an emptyDir.
func TestSeeds_InitContainerServedByNginx(t *testing.T) {
	n := seedNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: init-nginx}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: init
    image: busybox
    command: ["sh", "-c", "echo 'Hello from Init Container!' > /usr/share/nginx/html/index.html"]
    volumeMounts: [{name: workdir, mountPath: /usr/share/nginx/html}]
  containers:
  - name: nginx
    image: nginx
    volumeMounts: [{name: workdir, mountPath: /usr/share/nginx/html}]
  - name: check
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; until wget -qO- http://localhost/; do sleep 0.2; done; sleep 60 & wait"]
  volumes:
  - {name: workdir, emptyDir: {}}
`, "--timeout", "6s")
	seedOutput(t, out, errOut, code,
		"check | Hello from Init Container!",
		`"GET / HTTP/1.1" 200 27`, // nginx's access log, a symlink to its stdout
	)
	if strings.Contains(out, "nginx | ") && strings.Contains(out, "[emerg]") {
		t.Errorf("nginx failed:\n%s", out)
	}
}

// The adapter pattern: the exporter turns nginx's stub_status into
// Prometheus metrics on localhost:9113, configured by the seed's
// SCRAPE_URI.
func TestSeeds_AdapterNginxExporter(t *testing.T) {
	n := seedNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: ConfigMap
metadata: {name: nginx-conf}
data:
  default.conf: |
    server {
        listen 80;
        location = /stub_status { stub_status; }
    }
---
apiVersion: v1
kind: Pod
metadata: {name: adapter}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: nginx
    volumeMounts: [{name: nginx-conf, mountPath: /etc/nginx/conf.d}]
  - name: adapter
    image: nginx/nginx-prometheus-exporter:0.9.0
    env: [{name: SCRAPE_URI, value: "http://localhost/stub_status"}]
  - name: check
    image: busybox
    command: ["sh", "-c"]
    args:
    - |
      trap 'exit 0' TERM
      until wget -qO /tmp/m http://localhost:9113/metrics && grep -q '^nginx_up 1' /tmp/m; do sleep 0.2; done
      grep '^nginx_' /tmp/m
      sleep 60 & wait
  volumes:
  - name: nginx-conf
    configMap: {name: nginx-conf}
`, "--timeout", "6s")
	seedOutput(t, out, errOut, code,
		"check | nginx_up 1",
		"check | nginx_connections_active ",
		"adapter | ",
	)
}

// The examples these images make runnable, each as its header describes.
func TestSeeds_Examples(t *testing.T) {
	for file, want := range map[string][]string{
		"backend-proxy.yaml":              {"main-app | hello from main-app on :8080, via the proxy", `nginx-proxy | 127.0.0.1 - - [`},
		"init-nginx-index.yaml":           {"client | Hello from Init Container!"},
		"sidecar-nginx-log-tail.yaml":     {`log-collector-sidecar | 127.0.0.1 - - [`, `"GET / HTTP/1.1" 200 615`},
		"native-sidecar-log-shipper.yaml": {"log-shipper | log-shipper: started", "log-shipper | shipped: ", "web-app: served window 1, simple-webapp"},
		"adapter-nginx-exporter.yaml":     {"scraper | nginx_up 1", "scraper | nginx_connections_active "},
	} {
		t.Run(strings.TrimSuffix(file, ".yaml"), func(t *testing.T) {
			manifest, err := os.ReadFile("../../examples/" + file)
			if err != nil {
				t.Fatal(err)
			}
			n := seedNode(t)
			out, errOut, code := n.up(string(manifest), "--timeout", "8s")
			seedOutput(t, out, errOut, code, want...)
		})
	}
}
