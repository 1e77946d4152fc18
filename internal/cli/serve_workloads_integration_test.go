//go:build integration

package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// trapTERM is a container command that exits 0 on SIGTERM, so that scale
// downs and rollouts do not wait out the grace period.
const trapTERM = `trap "exit 0" TERM; while true; do sleep 1; done`

// The workload controllers are kube-controller-manager's own: what a
// learner types after a Pod works as on a cluster.
func TestServe_Deployment(t *testing.T) {
	s := newServer(t)
	s.mustKubectl("create", "deployment", "web", "--image=busybox:1.36", "--replicas=3", "--", "sh", "-c", trapTERM)
	s.mustKubectl("rollout", "status", "deployment/web", "--timeout=120s")
	if out := s.mustKubectl("get", "deployment", "web"); !regexpMatch(`web\s+3/3\s+3\s+3\s+`, out) {
		t.Errorf("get deployment:\n%s", out)
	}

	s.mustKubectl("scale", "deployment", "web", "--replicas=5")
	s.mustKubectl("rollout", "status", "deployment/web", "--timeout=120s")
	if n := s.mustKubectl("get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"); n != "5" {
		t.Errorf("ready replicas after scale: %q", n)
	}

	s.mustKubectl("set", "image", "deployment/web", "busybox=busybox:1.28")
	s.mustKubectl("rollout", "status", "deployment/web", "--timeout=180s")
	if img := s.mustKubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"); strings.Count(img, "busybox:1.28") != 5 {
		t.Errorf("images after set image: %q", img)
	}
	if out := s.mustKubectl("get", "rs", "-l", "app=web", "--no-headers"); strings.Count(out, "\n") != 2 {
		t.Errorf("replica sets after a rollout, want the new and the old:\n%s", out)
	}

	s.mustKubectl("rollout", "undo", "deployment/web")
	s.mustKubectl("rollout", "status", "deployment/web", "--timeout=180s")
	if img := s.mustKubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "busybox:1.36" {
		t.Errorf("image after undo: %q", img)
	}

	wide := s.mustKubectl("get", "rc,rs,deploy,jobs,pods", "-o", "wide")
	if !regexpMatch(`deployment.apps/web\s+5/5\s+5\s+5\s+\S+\s+busybox\s+busybox:1.36\s+app=web`, wide) ||
		!regexpMatch(`replicaset.apps/web-\S+\s+5\s+5\s+5\s+`, wide) || !strings.Contains(wide, "pod/web-") {
		t.Errorf("get rc,rs,deploy,jobs,pods -o wide:\n%s", wide)
	}

	s.mustKubectl("expose", "deployment", "web", "--port", "80", "--type", "NodePort")
	eventually(t, 60*time.Second, "the Service's endpoints are the five pods", func() (bool, string) {
		out, _ := s.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
		return len(strings.Fields(out)) == 5, out
	})

	// Cascading deletion: the garbage collector removes the replica sets
	// and their pods (kubectl asks for background propagation).
	s.mustKubectl("delete", "deployment", "web")
	s.mustKubectl("wait", "--for=delete", "pods", "-l", "app=web", "--timeout=120s")
	if out := s.mustKubectl("get", "rs", "-l", "app=web", "--no-headers", "--ignore-not-found"); strings.TrimSpace(out) != "" {
		t.Errorf("replica sets left after deleting the deployment:\n%s", out)
	}
	s.mustKubectl("delete", "service", "web")
}

// A Job whose pod has a native sidecar completes once the main container
// exits: the kubelet stops the sidecar, and the pod Succeeds.
func TestServe_JobWithNativeSidecar(t *testing.T) {
	s := newServer(t)
	s.apply(`apiVersion: batch/v1
kind: Job
metadata:
  name: x
spec:
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 5
      initContainers:
      - name: logger
        image: busybox:1.36
        restartPolicy: Always
        command: ["sh", "-c", ` + strconv.Quote(trapTERM) + `]
      containers:
      - name: main
        image: busybox:1.36
        command: ["sh", "-c", "echo done"]
`)
	s.mustKubectl("wait", "--for=condition=Complete", "job/x", "--timeout=120s")
	out := s.mustKubectl("get", "pods", "-l", "job-name=x", "-o", "jsonpath={.items[0].status.phase} {.items[0].status.initContainerStatuses[0].state.terminated.exitCode}")
	if out != "Succeeded 0" {
		t.Errorf("job pod phase and sidecar exit: %q", out)
	}
	if out := s.mustKubectl("get", "job", "x"); !regexpMatch(`x\s+Complete\s+1/1\s+`, out) {
		t.Errorf("get job:\n%s", out)
	}
	// Orphaning keeps the pod, without its owner.
	s.mustKubectl("delete", "job", "x", "--cascade=orphan")
	eventually(t, 30*time.Second, "the orphaned pod loses its owner reference", func() (bool, string) {
		out, _ := s.kubectl("get", "pods", "-l", "job-name=x", "-o", "jsonpath={.items[0].metadata.name}:{.items[0].metadata.ownerReferences}")
		return strings.HasPrefix(out, "x-") && strings.HasSuffix(out, ":"), out
	})
}

// A ReplicationController (what upstream's Service tests make their
// backends with) keeps its replicas, and a foreground deletion removes
// the pods before the controller.
func TestServe_ReplicationController(t *testing.T) {
	s := newServer(t)
	s.apply(`apiVersion: v1
kind: ReplicationController
metadata:
  name: r
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: r}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: c
        image: busybox:1.36
        command: ["sh", "-c", ` + strconv.Quote(trapTERM) + `]
`)
	s.mustKubectl("wait", "--for=jsonpath={.status.readyReplicas}=2", "rc/r", "--timeout=120s")
	pod := strings.Fields(s.mustKubectl("get", "pods", "-l", "app=r", "-o", "jsonpath={.items[*].metadata.name}"))[0]
	s.mustKubectl("delete", "pod", pod, "--wait=false")
	eventually(t, 60*time.Second, "a deleted replica is replaced", func() (bool, string) {
		out, _ := s.kubectl("get", "pods", "-l", "app=r", "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		names := strings.Fields(out)
		return len(names) == 2 && !strings.Contains(out, pod), out
	})
	out := s.mustKubectl("get", "rc,pods", "-o", "wide")
	if !regexpMatch(`replicationcontroller/r\s+2\s+2\s+2\s+\S+\s+c\s+busybox:1.36\s+app=r`, out) {
		t.Errorf("get rc,pods -o wide:\n%s", out)
	}
	s.mustKubectl("delete", "rc", "r", "--cascade=foreground", "--timeout=120s")
	if out := s.mustKubectl("get", "pods", "-l", "app=r", "--no-headers", "--ignore-not-found"); strings.TrimSpace(out) != "" {
		t.Errorf("pods left after a foreground deletion of their controller:\n%s", out)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
