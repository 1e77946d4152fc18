//go:build integration

package conmon_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// StopSandbox releases the network namespace, and the kernel takes the
// pod's interfaces with it: the host end of a veth whose peer is in the
// sandbox goes away without anyone deleting it. The sandbox stays listed
// until it is removed.
func TestIntegration_StopSandboxFreesTheNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "stop")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	host := "pps" + hex.EncodeToString(b)
	ns, err := netns.GetFromPath(sb.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}
	err = netlink.LinkAdd(veth)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(host); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	if err := e.rt.StopSandbox(ctxT(t), sb.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := netlink.LinkByName(host)
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("veth %s still there 10 s after StopSandbox (%v)", host, err)
		}
	}
	list, err := e.rt.ListSandboxes(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		found = found || s.ID == sb.ID
	}
	if !found {
		t.Error("a stopped sandbox is not listed before its removal")
	}
}
