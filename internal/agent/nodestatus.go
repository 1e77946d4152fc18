package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/utils/clock"
)

// nodeFacts is what the Node reports of this machine, read once at start.
type nodeFacts struct {
	Name           string
	InternalIP     string
	Arch           string
	OSImage        string
	Kernel         string
	MachineID      string
	BootID         string
	RuntimeVersion string
	KubeletPort    int32
	Capacity       corev1.ResourceList
	Allocatable    corev1.ResourceList
}

// readNodeFacts reads the machine: /etc/os-release, uname, ids, CPUs,
// memory and the pods directory's file system.
func readNodeFacts(name, podsDir, runtimeVersion string, maxPods int) nodeFacts {
	f := nodeFacts{Name: name, InternalIP: "127.0.0.1", Arch: goruntime.GOARCH, RuntimeVersion: runtimeVersion, OSImage: "Linux"}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if v := osRelease(b)["PRETTY_NAME"]; v != "" {
			f.OSImage = v
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	f.MachineID = readTrimmed("/etc/machine-id")
	f.BootID = readTrimmed("/proc/sys/kernel/random/boot_id")
	f.Capacity = corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		f.Capacity[corev1.ResourceMemory] = *resource.NewQuantity(int64(si.Totalram)*int64(si.Unit), resource.BinarySI)
	}
	var st unix.Statfs_t
	if podsDir != "" && unix.Statfs(podsDir, &st) == nil {
		f.Capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
	}
	// Allocatable is what the downward API reports as the node's limits.
	f.Allocatable = nodeAllocatable(podsDir)
	f.Allocatable[corev1.ResourcePods] = f.Capacity[corev1.ResourcePods]
	return f
}

func readTrimmed(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// osRelease parses os-release(5): KEY=value lines, values maybe quoted.
func osRelease(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'`)
		}
		out[k] = v
	}
	return out
}

// nodeObject is the Node this agent registers, with its status as of now.
func nodeObject(f nodeFacts, now time.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: f.Name,
			Labels: map[string]string{
				corev1.LabelHostname:   f.Name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: f.Arch,
			},
		},
	}
	n.Status = nodeStatus(f, now, nil)
	return n
}

// nodeStatus is the node's status at now. Conditions keep their last
// transition time from old, as long as they do not change.
func nodeStatus(f nodeFacts, now time.Time, old []corev1.NodeCondition) corev1.NodeStatus {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
		for _, o := range old {
			if o.Type == typ && o.Status == status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	return corev1.NodeStatus{
		Capacity:    f.Capacity.DeepCopy(),
		Allocatable: f.Allocatable.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: f.InternalIP},
			{Type: corev1.NodeHostName, Address: f.Name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: f.KubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               f.MachineID,
			SystemUUID:              f.MachineID,
			BootID:                  f.BootID,
			KernelVersion:           f.Kernel,
			OSImage:                 f.OSImage,
			ContainerRuntimeVersion: f.RuntimeVersion,
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            f.Arch,
		},
	}
}

// register creates the Node, or takes over an existing one of the same
// name (a restarted agent), then writes its status.
func (n *Node) register(ctx context.Context, f nodeFacts) error {
	want := nodeObject(f, time.Now())
	nodes := n.client.CoreV1().Nodes()
	_, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *corev1.Node
		if cur, err = nodes.Get(ctx, f.Name, metav1.GetOptions{}); err == nil {
			changed := false
			if cur.Labels == nil {
				cur.Labels = map[string]string{}
			}
			for k, v := range want.Labels {
				if cur.Labels[k] != v {
					cur.Labels[k], changed = v, true
				}
			}
			if changed {
				_, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", f.Name, err)
	}
	// Whether or not create kept it, the status goes through nodes/status.
	return n.heartbeat(ctx, f)
}

// heartbeat writes the node's status through nodes/NAME/status, and
// registers the node again if it was deleted. With a Lease (which says
// the node is alive) it writes only a changed status or every
// StatusReportPeriod, as the kubelet's nodeStatusReportFrequency.
func (n *Node) heartbeat(ctx context.Context, f nodeFacts) error {
	nodes := n.client.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, f.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = nodes.Create(ctx, nodeObject(f, time.Now()), metav1.CreateOptions{})
		if err == nil {
			cur, err = nodes.Get(ctx, f.Name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return err
	}
	now := time.Now()
	next := withNodeStatus(cur.Status, nodeStatus(f, now, cur.Status.Conditions))
	if n.cfg.LeaseDuration > 0 && now.Sub(n.lastReport) < n.cfg.StatusReportPeriod && sameNodeStatus(cur.Status, next) {
		return nil
	}
	cur.Status = next
	if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	n.lastReport = now
	return nil
}

// withNodeStatus is cur with what the node agent reports replaced by
// ours; what others write (the attach-detach controller's volumes) stays.
func withNodeStatus(cur, ours corev1.NodeStatus) corev1.NodeStatus {
	st := *cur.DeepCopy()
	st.Capacity, st.Allocatable, st.Phase = ours.Capacity, ours.Allocatable, ours.Phase
	st.Conditions, st.Addresses, st.NodeInfo = ours.Conditions, ours.Addresses, ours.NodeInfo
	st.DaemonEndpoints = ours.DaemonEndpoints
	return st
}

// sameNodeStatus tells two statuses apart by more than their conditions'
// heartbeat times.
func sameNodeStatus(a, b corev1.NodeStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, st := range []*corev1.NodeStatus{&a, &b} {
		for i := range st.Conditions {
			st.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}

// renewLease keeps the node's Lease in kube-node-lease with the kubelet's
// own controller (owned by the Node, renewed every quarter of its
// duration) until ctx ends.
func (n *Node) renewLease(ctx context.Context) {
	secs := int32(n.cfg.LeaseDuration / time.Second)
	lease.NewController(clock.RealClock{}, n.client, n.cfg.Name, secs, nil, n.cfg.LeaseDuration/4,
		n.cfg.Name, corev1.NamespaceNodeLease, n.ownLease).Run(ctx)
}

// ownLease makes the Node the Lease's owner, so that deleting the Node
// deletes its Lease, as the kubelet's SetNodeOwnerFunc (whose package
// would link runc's cgroup code): tried at every renewal until it holds.
func (n *Node) ownLease(l *coordinationv1.Lease) error {
	if len(l.OwnerReferences) > 0 {
		return nil
	}
	node, err := n.client.CoreV1().Nodes().Get(context.TODO(), n.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return nil // the next renewal tries again
	}
	l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	return nil
}
