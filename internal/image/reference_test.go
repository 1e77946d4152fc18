package image

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	const dgst = "sha256:8ac48589692a53a9b8c2d1ceaa6b402665aa7fe667ba51ccc03002300856d8c7"
	for _, c := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "busybox", want: "docker.io/library/busybox:latest"},
		{in: "busybox:1.28", want: "docker.io/library/busybox:1.28"},
		{in: "library/busybox", want: "docker.io/library/busybox:latest"},
		{in: "docker.io/busybox", want: "docker.io/library/busybox:latest"},
		{in: "index.docker.io/library/busybox:1", want: "docker.io/library/busybox:1"},
		{in: "myorg/app:v2", want: "docker.io/myorg/app:v2"},
		{in: "localhost:5000/x", want: "localhost:5000/x:latest"},
		{in: "localhost/x", want: "localhost/x:latest"},
		{in: "127.0.0.1:5000/a/b/c:t", want: "127.0.0.1:5000/a/b/c:t"},
		{in: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{in: "busybox@" + dgst, want: "docker.io/library/busybox@" + dgst},
		{in: "busybox:1.36@" + dgst, want: "docker.io/library/busybox@" + dgst}, // the digest wins
		{in: "", wantErr: true},
		{in: "BusyBox", wantErr: true},
		{in: "busybox:", wantErr: true},
		{in: "busybox@sha256:123", wantErr: true},
		{in: "a b", wantErr: true},
		{in: strings.Repeat("0", 64), wantErr: true}, // looks like an ID, not a name
		{in: "/busybox", wantErr: true},
	} {
		got, err := Normalize(c.in)
		if c.wantErr {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", c.in, got)
			} else if !strings.Contains(err.Error(), "\""+c.in+"\"") {
				t.Errorf("Normalize(%q): error %q does not name the reference", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestRefName(t *testing.T) {
	for _, c := range []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{"org.opencontainers.image.ref.name": "docker.io/library/busybox:1.36"}, "docker.io/library/busybox:1.36"},
		{map[string]string{"org.opencontainers.image.ref.name": "busybox:1.36"}, "docker.io/library/busybox:1.36"},
		{map[string]string{"org.opencontainers.image.ref.name": "1.36"}, ""},
		{map[string]string{"org.opencontainers.image.ref.name": "latest"}, ""},
		{map[string]string{"io.containerd.image.name": "quay.io/x/y:z", "org.opencontainers.image.ref.name": "z"}, "quay.io/x/y:z"},
		{map[string]string{"org.opencontainers.image.ref.name": "Bad:Name"}, ""},
		{nil, ""},
	} {
		got, ok := refName(c.ann)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("refName(%v) = %q, %v; want %q", c.ann, got, ok, c.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"busybox", "busybox:1.28", "localhost:5000/x", "a/b/c@sha256:8ac48589692a53a9b8c2d1ceaa6b402665aa7fe667ba51ccc03002300856d8c7", "[::1]:5000/x:y", "x:y@sha256:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		norm, err := Normalize(ref)
		if err != nil {
			return
		}
		// A normalized reference is fully qualified and a fixed point.
		if !strings.Contains(norm, "/") || !strings.ContainsAny(norm, ":@") {
			t.Fatalf("Normalize(%q) = %q: not fully qualified", ref, norm)
		}
		again, err := Normalize(norm)
		if err != nil || again != norm {
			t.Fatalf("Normalize(%q) = %q, but Normalize of that = %q, %v", ref, norm, again, err)
		}
		if _, err := repoDigest(norm, "sha256:0"); err != nil {
			t.Fatalf("repoDigest(%q): %v", norm, err)
		}
	})
}
