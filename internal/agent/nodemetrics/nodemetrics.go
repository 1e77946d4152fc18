// Package nodemetrics is the node agent's Prometheus metrics under the
// names the Kubernetes ecosystem queries: the kubelet's own (upstream's
// definitions in k8s.io/kubernetes/pkg/kubelet/metrics), its prober's
// prober_probe_total and prober_probe_duration_seconds, and, read at
// scrape time, the running pods and containers (as the kubelet's PLEG
// counts them: from the runtime) and each container's restarts under
// kube-state-metrics' name. Before Register nothing is recorded: the
// metrics of `peapod up`, which serves none, cost nothing.
package nodemetrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	kubeletmetrics "k8s.io/kubernetes/pkg/kubelet/metrics"

	"peapod/internal/runtime"
)

// The prober's metrics, as pkg/kubelet/prober defines them (importing it
// would link the whole kubelet).
var (
	ProbeTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "prober",
		Name:           "probe_total",
		Help:           "Cumulative number of a liveness, readiness or startup probe for a container by result.",
		StabilityLevel: metrics.BETA,
	}, []string{"probe_type", "result", "container", "pod", "namespace", "pod_uid"})
	ProbeDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Subsystem:      "prober",
		Name:           "probe_duration_seconds",
		Help:           "Duration in seconds for a probe response.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"probe_type", "container", "pod", "namespace"})
)

// The kubelet's, recorded by the agent where the kubelet records them.
var (
	PodStartDuration             = kubeletmetrics.PodStartDuration
	PodWorkerDuration            = kubeletmetrics.PodWorkerDuration
	StartedPodsTotal             = kubeletmetrics.StartedPodsTotal
	StartedPodsErrorsTotal       = kubeletmetrics.StartedPodsErrorsTotal
	StartedContainersTotal       = kubeletmetrics.StartedContainersTotal
	StartedContainersErrorsTotal = kubeletmetrics.StartedContainersErrorsTotal
)

// ForgetPod removes the pod's probe series, as the kubelet's probe
// workers delete theirs when they stop: a node that ran many pods does
// not keep a series of each.
func ForgetPod(namespace, name, uid string) {
	if !ProbeTotal.IsCreated() {
		return // not registered: nothing was recorded
	}
	ProbeTotal.DeletePartialMatch(map[string]string{"pod_uid": uid})
	ProbeDuration.DeletePartialMatch(map[string]string{"namespace": namespace, "pod": name})
}

// Probe results as the prober labels them.
const (
	ProbeSuccessful = "successful"
	ProbeFailed     = "failed"
)

var (
	registerOnce sync.Once
	source       atomic.Pointer[scrapeSource]
)

type scrapeSource struct {
	rt   runtime.Runtime
	pods corelisters.PodLister
	node string
}

// Register puts the metrics in the process's registry (legacyregistry,
// which the API server serves at /metrics), and reads the running pods
// and containers from rt and the restarts of node's pods from pods at
// each scrape. A later call only replaces those.
func Register(rt runtime.Runtime, pods corelisters.PodLister, node string) {
	source.Store(&scrapeSource{rt: rt, pods: pods, node: node})
	registerOnce.Do(func() {
		legacyregistry.MustRegister(ProbeTotal, ProbeDuration, PodStartDuration, PodWorkerDuration,
			StartedPodsTotal, StartedPodsErrorsTotal, StartedContainersTotal, StartedContainersErrorsTotal)
		legacyregistry.CustomMustRegister(&collector{})
	})
}

var (
	runningPodsDesc = metrics.NewDesc("kubelet_running_pods",
		"Number of pods that have a running pod sandbox", nil, nil, metrics.ALPHA, "")
	runningContainersDesc = metrics.NewDesc("kubelet_running_containers",
		"Number of containers currently running", []string{"container_state"}, nil, metrics.ALPHA, "")
	restartsDesc = metrics.NewDesc("kube_pod_container_status_restarts_total",
		"The number of container restarts per container.", []string{"namespace", "pod", "uid", "container"}, nil, metrics.ALPHA, "")
)

// collector reads what changes with every pod at scrape time, so nothing
// has to be kept up to date between scrapes.
type collector struct{ metrics.BaseStableCollector }

func (c *collector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- runningPodsDesc
	ch <- runningContainersDesc
	ch <- restartsDesc
}

func (c *collector) CollectWithStability(ch chan<- metrics.Metric) {
	src := source.Load()
	if src == nil {
		return
	}
	for _, m := range Gather(context.Background(), src.rt, src.pods, src.node) {
		ch <- m
	}
}

// Gather reads the scrape-time metrics from rt and node's pods.
func Gather(ctx context.Context, rt runtime.Runtime, pods corelisters.PodLister, node string) []metrics.Metric {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []metrics.Metric
	if sbs, err := rt.ListSandboxes(ctx); err == nil {
		out = append(out, metrics.NewLazyConstMetric(runningPodsDesc, metrics.GaugeValue, float64(len(sbs))))
	}
	if cs, err := rt.ListContainers(ctx, ""); err == nil {
		// The kubelet's states, each reported even at 0.
		byState := map[string]int{"created": 0, "running": 0, "exited": 0, "unknown": 0}
		for _, c := range cs {
			st := string(c.State) // the runtime's states are the CRI's
			if _, ok := byState[st]; !ok {
				st = "unknown"
			}
			byState[st]++
		}
		for state, n := range byState {
			out = append(out, metrics.NewLazyConstMetric(runningContainersDesc, metrics.GaugeValue, float64(n), state))
		}
	}
	if pods == nil {
		return out
	}
	list, err := pods.List(labels.Everything())
	if err != nil {
		return out
	}
	for _, p := range list {
		if p.Spec.NodeName != node {
			continue
		}
		for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, s := range statuses {
				out = append(out, metrics.NewLazyConstMetric(restartsDesc, metrics.CounterValue, float64(s.RestartCount), p.Namespace, p.Name, string(p.UID), s.Name))
			}
		}
	}
	return out
}
