package agent

import (
	"log/slog"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"peapod/internal/timeline"
)

// NodeConfig configures the node agent.
type NodeConfig struct {
	// Client reaches the API server: serve's loopback config, or a real
	// cluster's.
	Client kubernetes.Interface
	// EventClient writes the node's events and SchedulerClient binds
	// pods (Bind), each with a request budget of its own, as the
	// kubelet's event client and kube-scheduler have: a busy node's
	// status writes and events then hold no binding back. nil: Client.
	EventClient, SchedulerClient kubernetes.Interface
	// Name is the Node's name; the hostname by default.
	Name string
	// Worker holds the mechanisms every pod worker uses (Runtime, Images,
	// PodsDir, LogsDir, Pull). The node sets Objects, Reporter, Shutdown
	// and StopGrace per pod.
	Worker Config
	// RuntimeVersion is the node's containerRuntimeVersion, e.g.
	// "peapod://v0.3.0".
	RuntimeVersion string
	// MaxPods is the node's pod capacity (the kubelet's --max-pods); 0:
	// MaxPods.
	MaxPods int
	// Heartbeat is the period of node status updates; 10 s by default.
	Heartbeat time.Duration
	// RetryAfter is how long a pod whose worker failed waits before it is
	// run again; 10 s by default, as the kubelet's pod workers.
	RetryAfter time.Duration
	// SyncPeriod is how often every pod's ConfigMap and Secret volumes
	// are rewritten even without a watch event; 60 s by default, as the
	// kubelet's syncFrequency.
	SyncPeriod time.Duration
	// ContainerLogMaxSize and ContainerLogMaxFiles bound each container's
	// log, rotated every LogMonitorPeriod, as the kubelet's
	// (containerLogMaxSize, containerLogMaxFiles; 10 MiB, 5 and 10 s by
	// default).
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	LogMonitorPeriod     time.Duration
	// Informers is the process's one informer factory. NewNode asks it for
	// pods, ConfigMaps, Secrets and Services; its owner starts it after
	// every component has asked for what it needs. Under serve it watches
	// every pod (the DNS and the endpoints controller need them all); a
	// node of a big cluster would give it pods of spec.nodeName only, as
	// the kubelet watches.
	Informers informers.SharedInformerFactory
	Log       *slog.Logger
	// Timeline, if set, keeps each pod's picture (what its workers
	// report), kept while the pod exists.
	Timeline *timeline.Book

	// Bind makes the node the scheduler too: it binds unscheduled pods
	// to itself (serve, which has no scheduler). A node of a cluster
	// leaves that to the cluster's scheduler.
	Bind bool
	// ObjectsPerPod reads ConfigMaps and Secrets as the kubelet does on a
	// cluster: a watch per object the pods on this node refer to, the
	// only reads the node authorizer allows. Otherwise the informers list
	// them all.
	ObjectsPerPod bool
	// LeaseDuration, if set, keeps the node's Lease in kube-node-lease
	// (renewed every quarter of it, as the kubelet's nodeLeaseDuration
	// 40 s), which is what a cluster's node lifecycle controller watches;
	// the node's status is then written when it changes or every
	// StatusReportPeriod.
	LeaseDuration      time.Duration
	StatusReportPeriod time.Duration
	// InternalIP is the node's address for the cluster (the kubelet's
	// --node-ip); the pod network's gateway by default.
	InternalIP string
	// KubeletPort is where the node serves the kubelet's API
	// (status.daemonEndpoints), 0 when it does not.
	KubeletPort int32
}

// KubeletVersion is what the Node reports as its kubelet version.
const KubeletVersion = "v1.32.0-peapod"

// MaxPods is the node's default pod capacity, the kubelet's --max-pods.
const MaxPods = 110
