package network

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containernetworking/cni/libcni"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestConflistGolden(t *testing.T) {
	subnet, gw, err := parseCIDR("10.88.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Conflist("peapod0", subnet, gw, "/run/peapod/cni/networks")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "peapod.conflist")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("conflist:\n%s\nwant:\n%s", got, want)
	}
	// libcni must read it as peapod will.
	list, err := libcni.ConfListFromBytes(got)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	if list.Name != NetworkName || list.CNIVersion != "1.0.0" || !reflect.DeepEqual(types, []string{"bridge", "portmap"}) {
		t.Errorf("parsed as %s %s %v", list.Name, list.CNIVersion, types)
	}
	// Pods without hostPorts are attached without portmap, the same
	// network otherwise.
	lite, err := withoutPortmap(got)
	if err != nil {
		t.Fatal(err)
	}
	if lite.Name != NetworkName || lite.CNIVersion != "1.0.0" || len(lite.Plugins) != 1 || lite.Plugins[0].Network.Type != "bridge" ||
		string(lite.Plugins[0].Bytes) != string(list.Plugins[0].Bytes) {
		t.Errorf("without portmap: %s %s %d plugins, first %s", lite.Name, lite.CNIVersion, len(lite.Plugins), lite.Plugins[0].Bytes)
	}
}

func TestParseCIDR(t *testing.T) {
	for _, tc := range []struct{ in, subnet, gw string }{
		{"10.88.0.0/16", "10.88.0.0/16", "10.88.0.1"},
		{"10.123.4.7/24", "10.123.4.0/24", "10.123.4.1"},
		{"192.168.5.0/30", "192.168.5.0/30", "192.168.5.1"},
	} {
		s, gw, err := parseCIDR(tc.in)
		if err != nil || s.String() != tc.subnet || !gw.Equal(net.ParseIP(tc.gw)) {
			t.Errorf("parseCIDR(%s) = %v %v %v", tc.in, s, gw, err)
		}
	}
	for _, bad := range []string{"", "10.88.0.0", "fd00::/64", "10.0.0.0/31", "10.0.0.0/33"} {
		if _, _, err := parseCIDR(bad); err == nil {
			t.Errorf("parseCIDR(%q) accepted", bad)
		}
	}
}

func TestPortMappings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{{ContainerPort: 1, HostPort: 1}}}},
		Containers: []corev1.Container{
			{Name: "a", Ports: []corev1.ContainerPort{
				{ContainerPort: 80, HostPort: 8080},
				{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP, HostIP: "127.0.0.1"},
				{ContainerPort: 9090}, // no hostPort: not mapped
			}},
			{Name: "b", Ports: []corev1.ContainerPort{
				{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}, // same tcp/8080: once
				{ContainerPort: 82, HostPort: 8080, Protocol: corev1.ProtocolSCTP},
			}},
		},
	}}
	want := []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"},
		{HostPort: 8080, ContainerPort: 82, Protocol: "sctp"},
	}
	if got := PortMappings(pod); !reflect.DeepEqual(got, want) {
		t.Errorf("PortMappings = %+v, want %+v", got, want)
	}
}
