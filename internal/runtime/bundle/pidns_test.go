package bundle

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// kubectl debug --target: the target's PID namespace is joined, whatever
// the pod's own PID namespace settings.
func TestSpec_PIDNamespaceOf(t *testing.T) {
	for _, hostPID := range []bool{false, true} {
		in := baseInput()
		in.Sandbox.HostPID = hostPID
		in.Container.Security.PIDNamespaceOf = "/proc/42/ns/pid"
		s, err := Spec(in)
		if err != nil {
			t.Fatal(err)
		}
		want := []specs.LinuxNamespace{{Type: "network", Path: "/run/peapod/sandboxes/sb1/ns/net"}, {Type: "ipc", Path: "/run/peapod/sandboxes/sb1/ns/ipc"}, {Type: "uts", Path: "/run/peapod/sandboxes/sb1/ns/uts"}, {Type: "mount"}, {Type: "pid", Path: "/proc/42/ns/pid"}, {Type: "cgroup"}}
		if !reflect.DeepEqual(s.Linux.Namespaces, want) {
			t.Errorf("hostPID %v: %+v", hostPID, s.Linux.Namespaces)
		}
	}
}
