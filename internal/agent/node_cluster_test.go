package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"

	"peapod/internal/runtime/runtimetest"
)

// asClusterNode is a node of a cluster: the scheduler binds, the node
// authorizer allows one watch per ConfigMap and Secret, a Lease says the
// node is alive.
func asClusterNode(c *NodeConfig) {
	c.ObjectsPerPod = true
	c.LeaseDuration = 2 * time.Second
	c.StatusReportPeriod = time.Hour
	c.KubeletPort = 10250
}

func TestNode_ClusterNodeRunsItsPodsOnly(t *testing.T) {
	unbound := testPod("unbound", "app")
	mine := testPod("mine", "app")
	mine.Spec.NodeName = testNode
	mine.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}}
	mine.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/conf"}}
	conf := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}}
	client := newClient(unbound, mine, conf, other)
	startNodeWith(t, client, runtimetest.NewFake(), asClusterNode)

	// Both pods were seen together: when one runs, the other was passed by.
	running(t, client, "mine")
	if p, _ := getPod(t, client, "unbound"); p.Spec.NodeName != "" {
		t.Errorf("a cluster's node bound pod %q to %q: the scheduler binds", p.Name, p.Spec.NodeName)
	}
	// ConfigMaps are read one by one, by name, as the node authorizer
	// allows; never listed whole.
	var byName bool
	for _, a := range client.Actions() {
		if a.GetResource().Resource != "configmaps" {
			continue
		}
		var sel string
		switch a := a.(type) {
		case k8stesting.ListAction:
			sel = a.GetListRestrictions().Fields.String()
		case k8stesting.WatchAction:
			sel = a.GetWatchRestrictions().Fields.String()
		default:
			continue
		}
		if sel != "metadata.name=conf" {
			t.Errorf("%s of configmaps with field selector %q: a node may read only the ConfigMaps of its pods, by name", a.GetVerb(), sel)
		}
		byName = true
	}
	if !byName {
		t.Error("the pod's ConfigMap was not watched by name")
	}
}

func TestNode_ClusterNodeKeepsLeaseAndReportsOnChange(t *testing.T) {
	client := newClient()
	startNodeWith(t, client, runtimetest.NewFake(), asClusterNode)
	var node *corev1.Node
	eventually(t, "node registered", func() (err error) {
		node, err = client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		return err
	})
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 10250 {
		t.Errorf("kubelet endpoint port %d, want 10250", p)
	}
	// Renewed every quarter of its duration: three renewals are 1.5 s.
	var renewals []metav1.MicroTime
	eventually(t, "lease renewed", func() error {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := leaseOK(l, node); err != nil {
			return err
		}
		if n := len(renewals); n == 0 || !renewals[n-1].Equal(l.Spec.RenewTime) {
			renewals = append(renewals, *l.Spec.RenewTime)
		}
		if len(renewals) < 4 {
			return fmt.Errorf("%d renewals", len(renewals))
		}
		return nil
	})
	// Thirty heartbeats of an unchanged status wrote nothing.
	if n := statusWrites(client); n != 1 {
		t.Errorf("%d node status writes with the lease renewed and nothing changed, want 1 (the registration)", n)
	}
	// A change is written at the next heartbeat.
	node, _ = client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
	node.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1")
	if _, err := client.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "changed status written", func() error {
		if n := statusWrites(client); n < 3 { // the registration, ours above, the agent's
			return fmt.Errorf("%d status writes", n)
		}
		return nil
	})
}

func leaseOK(l *coordinationv1.Lease, node *corev1.Node) error {
	switch {
	case l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != testNode:
		return fmt.Errorf("holder %v", l.Spec.HolderIdentity)
	case l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds != 2:
		return fmt.Errorf("duration %v", l.Spec.LeaseDurationSeconds)
	case l.Spec.RenewTime == nil:
		return fmt.Errorf("no renew time")
	case len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != node.UID:
		return fmt.Errorf("owners %v: the Node owns its Lease", l.OwnerReferences)
	}
	return nil
}

func statusWrites(client interface{ Actions() []k8stesting.Action }) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "nodes" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func TestNodeStatus_ReportRules(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(1000, 0))
	base := nodeStatus(nodeFacts{Name: "n", InternalIP: "10.0.0.1"}, t0.Time, nil)
	later := nodeStatus(nodeFacts{Name: "n", InternalIP: "10.0.0.1"}, t0.Add(time.Minute), base.Conditions)
	moved := nodeStatus(nodeFacts{Name: "n", InternalIP: "10.0.0.2"}, t0.Add(time.Minute), base.Conditions)
	for _, tc := range []struct {
		name string
		a, b corev1.NodeStatus
		same bool
	}{
		{"only the heartbeat times moved: nothing to report", base, later, true},
		{"an address changed: report", base, moved, false},
	} {
		if got := sameNodeStatus(tc.a, tc.b); got != tc.same {
			t.Errorf("%s: same = %v", tc.name, got)
		}
	}
	cur := base
	cur.VolumesAttached = []corev1.AttachedVolume{{Name: "kubernetes.io/csi/x", DevicePath: "/dev/x"}}
	if got := withNodeStatus(cur, moved); len(got.VolumesAttached) != 1 || got.Addresses[0].Address != "10.0.0.2" {
		t.Errorf("what the attach-detach controller wrote is kept and ours replaced: %+v", got)
	}
	if base.DaemonEndpoints.KubeletEndpoint.Port != 0 {
		t.Errorf("no kubelet port without a kubelet API: %v", base.DaemonEndpoints)
	}
}
