package agent

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/runtime"
)

func TestCommandArgs(t *testing.T) {
	entrypoint := []string{"/docker-entrypoint.sh"}
	cmd := []string{"nginx", "-g", "daemon off;"}
	cases := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{name: "neither: image entrypoint and cmd", want: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}},
		{name: "command only: image cmd dropped", command: []string{"sh", "-c"}, want: []string{"sh", "-c"}},
		{name: "args only: image entrypoint with args", args: []string{"echo", "hi"}, want: []string{"/docker-entrypoint.sh", "echo", "hi"}},
		{name: "both: image ignored", command: []string{"sh", "-c"}, args: []string{"echo hi"}, want: []string{"sh", "-c", "echo hi"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := commandArgs(tc.command, tc.args, entrypoint, cmd)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("commandArgs = %q, want %q", got, tc.want)
			}
			// The result must not alias the inputs.
			if len(got) > 0 {
				got[0] = "mutated"
			}
			if entrypoint[0] != "/docker-entrypoint.sh" || (len(tc.command) > 0 && tc.command[0] == "mutated") {
				t.Error("commandArgs result aliases its input")
			}
		})
	}
	if got := commandArgs(nil, nil, nil, nil); len(got) != 0 {
		t.Errorf("commandArgs with nothing = %q, want empty", got)
	}
}

func TestContainerEnv(t *testing.T) {
	image := []string{"PATH=/usr/local/sbin:/usr/bin", "LANG=C", "EMPTY="}
	cases := []struct {
		name string
		env  []corev1.EnvVar
		want []string
	}{
		{name: "image env only", want: image},
		{
			name: "override in place, new names appended in order",
			env:  []corev1.EnvVar{{Name: "ZED", Value: "1"}, {Name: "LANG", Value: "C.UTF-8"}, {Name: "ALPHA", Value: "a=b"}},
			want: []string{"PATH=/usr/local/sbin:/usr/bin", "LANG=C.UTF-8", "EMPTY=", "ZED=1", "ALPHA=a=b"},
		},
		{
			name: "a name repeated in env: last wins, first position kept",
			env:  []corev1.EnvVar{{Name: "X", Value: "1"}, {Name: "Y", Value: "2"}, {Name: "X", Value: "3"}},
			want: []string{"PATH=/usr/local/sbin:/usr/bin", "LANG=C", "EMPTY=", "X=3", "Y=2"},
		},
		{
			name: "empty value overrides",
			env:  []corev1.EnvVar{{Name: "PATH", Value: ""}},
			want: []string{"PATH=", "LANG=C", "EMPTY="},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := containerEnv(image, tc.env)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("containerEnv = %q, want %q", got, tc.want)
			}
			if image[1] != "LANG=C" {
				t.Fatal("containerEnv modified the image env")
			}
		})
	}
}

func TestMounts(t *testing.T) {
	// mounts resolves subPaths in the volumes, so they must exist.
	vols := t.TempDir()
	volumes := map[string]string{"data": filepath.Join(vols, "data"), "cfg": filepath.Join(vols, "cfg")}
	for _, d := range []string{"data", "cfg/conf"} {
		if err := os.MkdirAll(filepath.Join(vols, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vols, "cfg/conf/app.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	files := podFiles{Hosts: "/pods/u/etc-hosts", Hostname: "/pods/u/etc-hostname", ResolvConf: "/pods/u/resolv.conf"}
	managed := []runtime.Mount{
		{Destination: "/etc/hosts", Source: "/pods/u/etc-hosts", Type: "bind"},
		{Destination: "/etc/hostname", Source: "/pods/u/etc-hostname", Type: "bind"},
		{Destination: "/etc/resolv.conf", Source: "/pods/u/resolv.conf", Type: "bind"},
	}
	h2c, bidi, none := corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional, corev1.MountPropagationNone
	cases := []struct {
		name    string
		mounts  []corev1.VolumeMount
		want    []runtime.Mount
		wantErr string
	}{
		{name: "no volume mounts: only the managed files", want: managed},
		{
			name: "subPath, readOnly and propagation",
			mounts: []corev1.VolumeMount{
				{Name: "data", MountPath: "/data"},
				{Name: "cfg", MountPath: "/etc/app/app.conf", SubPath: "conf/app.conf", ReadOnly: true},
				{Name: "data", MountPath: "/h2c", MountPropagation: &h2c},
				{Name: "data", MountPath: "/bidi", MountPropagation: &bidi},
				{Name: "data", MountPath: "/none", MountPropagation: &none},
			},
			want: append([]runtime.Mount{
				{Destination: "/data", Source: volumes["data"], Type: "bind"},
				{Destination: "/etc/app/app.conf", Source: volumes["cfg"] + "/conf/app.conf", Type: "bind", ReadOnly: true},
				{Destination: "/h2c", Source: volumes["data"], Type: "bind", Propagation: "rslave"},
				{Destination: "/bidi", Source: volumes["data"], Type: "bind", Propagation: "rshared"},
				{Destination: "/none", Source: volumes["data"], Type: "bind"},
			}, managed...),
		},
		{
			name: "container mounts /etc/hosts and /etc/resolv.conf itself",
			mounts: []corev1.VolumeMount{
				{Name: "cfg", MountPath: "/etc/hosts", SubPath: "hosts"},
				{Name: "cfg", MountPath: "/etc/resolv.conf/", SubPath: "resolv.conf"},
			},
			want: []runtime.Mount{
				{Destination: "/etc/hosts", Source: volumes["cfg"] + "/hosts", Type: "bind"},
				{Destination: "/etc/resolv.conf/", Source: volumes["cfg"] + "/resolv.conf", Type: "bind"},
				{Destination: "/etc/hostname", Source: "/pods/u/etc-hostname", Type: "bind"},
			},
		},
		{
			name:    "unknown volume",
			mounts:  []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}},
			wantErr: `volume "nope" not found`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", VolumeMounts: tc.mounts}
			got, err := mounts(c, nil, volumes, files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("mounts error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mounts:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// No managed files (not written yet): nothing added.
	got, err := mounts(&corev1.Container{}, nil, nil, podFiles{})
	if err != nil || len(got) != 0 {
		t.Errorf("mounts without pod files = %+v, %v; want none", got, err)
	}
}

func TestResources(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	cases := []struct {
		name string
		r    corev1.ResourceRequirements
		want runtime.Resources
	}{
		// Like the kubelet, a container without a cpu request gets the
		// minimum shares (2), not the runtime's default 1024.
		{name: "nothing", want: runtime.Resources{CPUShares: 2}},
		{name: "request 1 cpu", r: corev1.ResourceRequirements{Requests: rl("cpu", "1")}, want: runtime.Resources{CPUShares: 1024}},
		{name: "request 250m", r: corev1.ResourceRequirements{Requests: rl("cpu", "250m")}, want: runtime.Resources{CPUShares: 256}},
		{name: "tiny request is raised to 2 shares", r: corev1.ResourceRequirements{Requests: rl("cpu", "1m")}, want: runtime.Resources{CPUShares: 2}},
		{
			name: "limit only: shares from the limit, quota at period 100000",
			r:    corev1.ResourceRequirements{Limits: rl("cpu", "500m")},
			want: runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000},
		},
		{
			name: "request and limit",
			r:    corev1.ResourceRequirements{Requests: rl("cpu", "100m"), Limits: rl("cpu", "2")},
			want: runtime.Resources{CPUShares: 102, CPUQuota: 200000, CPUPeriod: 100000},
		},
		{
			name: "tiny limit: quota floor of 1 ms",
			r:    corev1.ResourceRequirements{Limits: rl("cpu", "5m")},
			want: runtime.Resources{CPUShares: 5, CPUQuota: 1000, CPUPeriod: 100000},
		},
		{
			name: "memory limit",
			r:    corev1.ResourceRequirements{Requests: rl("memory", "32Mi"), Limits: rl("memory", "64Mi")},
			want: runtime.Resources{CPUShares: 2, MemoryLimitBytes: 64 << 20},
		},
		{
			name: "memory limit in decimal units",
			r:    corev1.ResourceRequirements{Limits: rl("memory", "1G", "cpu", "1")},
			want: runtime.Resources{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimitBytes: 1e9},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := resources(tc.r); got != tc.want {
				t.Errorf("resources = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSecurity(t *testing.T) {
	tru, fls := true, false
	cases := []struct {
		name string
		sc   *corev1.SecurityContext
		want runtime.Security
	}{
		{name: "none", want: runtime.Security{}},
		{name: "allowPrivilegeEscalation false", sc: &corev1.SecurityContext{AllowPrivilegeEscalation: &fls}, want: runtime.Security{NoNewPrivileges: true}},
		{name: "allowPrivilegeEscalation true", sc: &corev1.SecurityContext{AllowPrivilegeEscalation: &tru}, want: runtime.Security{}},
		{name: "privileged, read-only rootfs", sc: &corev1.SecurityContext{Privileged: &tru, ReadOnlyRootFilesystem: &tru},
			want: runtime.Security{Privileged: true, ReadOnlyRootfs: true}},
		{name: "capabilities", sc: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
			Add: []corev1.Capability{"NET_ADMIN", "SYS_TIME"}, Drop: []corev1.Capability{"ALL"},
		}}, want: runtime.Security{CapAdd: []string{"NET_ADMIN", "SYS_TIME"}, CapDrop: []string{"ALL"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := security(tc.sc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("security = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeLayers builds two unpacked layers: the top one has etc/passwd and
// etc/group, the lower one an older passwd that must be shadowed.
func fakeLayers(t *testing.T) []string {
	t.Helper()
	top, lower := t.TempDir(), t.TempDir()
	write := func(dir, name, data string) {
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(top, "passwd", "root:x:0:0:root:/root:/bin/sh\n"+
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"+
		"app:x:1000:1001:app:/home/app:/bin/sh\n"+
		"broken:x:notanumber:1:b:/:/bin/sh\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	write(top, "group", "root:x:0:\nstaff:x:50:app\napp:x:1001:\nnogroup:x:65534:\n")
	write(lower, "passwd", "root:x:0:0:root:/root:/bin/sh\nghost:x:4242:4242::/:/bin/sh\n")
	return []string{top, lower}
}

func TestResolveUser(t *testing.T) {
	layers := fakeLayers(t)
	i64 := func(v int64) *int64 { return &v }
	tru, fls := true, false
	cases := []struct {
		name      string
		imageUser string
		podSC     *corev1.PodSecurityContext
		sc        *corev1.SecurityContext
		want      runtime.User
		wantErr   string
	}{
		{name: "no user: root", want: runtime.User{UID: 0, GID: 0}},
		{name: "user name", imageUser: "app", want: runtime.User{UID: 1000, GID: 1001}},
		{name: "uid in passwd takes its gid", imageUser: "1000", want: runtime.User{UID: 1000, GID: 1001}},
		{name: "uid not in passwd: gid 0", imageUser: "4000", want: runtime.User{UID: 4000, GID: 0}},
		{name: "uid:gid", imageUser: "1000:50", want: runtime.User{UID: 1000, GID: 50}},
		{name: "name:group", imageUser: "app:staff", want: runtime.User{UID: 1000, GID: 50}},
		{name: "uid:group", imageUser: "65534:staff", want: runtime.User{UID: 65534, GID: 50}},
		{name: "the lower layer's passwd is shadowed", imageUser: "ghost", wantErr: "unable to find user ghost"},
		{name: "unknown user", imageUser: "nosuch", wantErr: "unable to find user nosuch: no matching entries in passwd file"},
		{name: "unknown group", imageUser: "app:nosuch", wantErr: "unable to find group nosuch: no matching entries in group file"},
		{name: "bad passwd entry", imageUser: "broken", wantErr: "bad passwd entry for user broken"},
		{
			name:      "runAsUser overrides the image user; gid from passwd for that uid",
			imageUser: "app", sc: &corev1.SecurityContext{RunAsUser: i64(65534)},
			want: runtime.User{UID: 65534, GID: 65534},
		},
		{
			name:      "runAsUser not in passwd: gid 0, not the image user's",
			imageUser: "app", sc: &corev1.SecurityContext{RunAsUser: i64(2000)},
			want: runtime.User{UID: 2000, GID: 0},
		},
		{
			name:      "runAsUser and runAsGroup",
			imageUser: "app", sc: &corev1.SecurityContext{RunAsUser: i64(2000), RunAsGroup: i64(3000)},
			want: runtime.User{UID: 2000, GID: 3000},
		},
		{
			name:      "runAsGroup alone keeps the image uid",
			imageUser: "app", sc: &corev1.SecurityContext{RunAsGroup: i64(3000)},
			want: runtime.User{UID: 1000, GID: 3000},
		},
		{
			name:  "pod-level runAsUser and supplemental groups, container-level runAsGroup wins",
			podSC: &corev1.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(1), SupplementalGroups: []int64{50, 60}},
			sc:    &corev1.SecurityContext{RunAsGroup: i64(7)},
			want:  runtime.User{UID: 1000, GID: 7, AdditionalGids: []uint32{50, 60}},
		},
		{
			name:  "the pod's fsGroup is a supplementary group of every container",
			podSC: &corev1.PodSecurityContext{RunAsUser: i64(1000), FSGroup: i64(1001), SupplementalGroups: []int64{50}},
			want:  runtime.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{50, 1001}},
		},
		{
			name:  "an fsGroup already among the supplemental groups is not repeated",
			podSC: &corev1.PodSecurityContext{RunAsUser: i64(1000), FSGroup: i64(50), SupplementalGroups: []int64{50}},
			want:  runtime.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{50}},
		},
		{
			name:  "container runAsUser overrides the pod's",
			podSC: &corev1.PodSecurityContext{RunAsUser: i64(1000)},
			sc:    &corev1.SecurityContext{RunAsUser: i64(1)},
			want:  runtime.User{UID: 1, GID: 1},
		},
		{
			name:      "runAsNonRoot with a numeric non-root image user",
			imageUser: "1000", sc: &corev1.SecurityContext{RunAsNonRoot: &tru},
			want: runtime.User{UID: 1000, GID: 1001},
		},
		{
			name:      "runAsNonRoot with runAsUser non-root and a named image user",
			imageUser: "app", podSC: &corev1.PodSecurityContext{RunAsNonRoot: &tru}, sc: &corev1.SecurityContext{RunAsUser: i64(1000)},
			want: runtime.User{UID: 1000, GID: 1001},
		},
		{
			name:  "runAsNonRoot false allows root",
			podSC: &corev1.PodSecurityContext{RunAsNonRoot: &tru}, sc: &corev1.SecurityContext{RunAsNonRoot: &fls},
			want: runtime.User{},
		},
		{
			name:    "runAsNonRoot with no image user (root)",
			sc:      &corev1.SecurityContext{RunAsNonRoot: &tru},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web_default(uid-1)", container: c)`,
		},
		{
			name:      "runAsNonRoot with numeric root image user",
			imageUser: "0:0", podSC: &corev1.PodSecurityContext{RunAsNonRoot: &tru},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web_default(uid-1)", container: c)`,
		},
		{
			name:      "runAsNonRoot with runAsUser 0",
			imageUser: "1000", sc: &corev1.SecurityContext{RunAsNonRoot: &tru, RunAsUser: i64(0)},
			wantErr: `container's runAsUser breaks non-root policy (pod: "web_default(uid-1)", container: c)`,
		},
		{
			// The kubelet cannot tell what a name maps to, even when the
			// image's passwd says it is not root.
			name:      "runAsNonRoot with a non-numeric image user",
			imageUser: "app", sc: &corev1.SecurityContext{RunAsNonRoot: &tru},
			wantErr: `container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "web_default(uid-1)", container: c)`,
		},
		{
			name:      "runAsNonRoot with a non-numeric root image user",
			imageUser: "root", sc: &corev1.SecurityContext{RunAsNonRoot: &tru},
			wantErr: `container has runAsNonRoot and image has non-numeric user (root), cannot verify user is non-root`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
				Spec:       corev1.PodSpec{SecurityContext: tc.podSC},
			}
			c := &corev1.Container{Name: "c", SecurityContext: tc.sc}
			got, err := resolveUser(pod, c, tc.imageUser, layers)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolveUser error = %v, want %q", err, tc.wantErr)
				}
				var ce configError
				if !errors.As(err, &ce) {
					t.Errorf("error %T is not a configError (CreateContainerConfigError)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveUser: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("resolveUser = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResolveUser_NoPasswd(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	c := &corev1.Container{Name: "c"}
	empty := []string{t.TempDir()}
	if got, err := resolveUser(pod, c, "123:456", empty); err != nil || !reflect.DeepEqual(got, runtime.User{UID: 123, GID: 456}) {
		t.Errorf("numeric user without passwd = %+v, %v; want 123:456", got, err)
	}
	if _, err := resolveUser(pod, c, "app", empty); err == nil {
		t.Error("named user without passwd resolved; want an error")
	}
}

func TestSeccomp(t *testing.T) {
	profile := func(typ corev1.SeccompProfileType, local string) *corev1.SeccompProfile {
		p := &corev1.SeccompProfile{Type: typ}
		if local != "" {
			p.LocalhostProfile = &local
		}
		return p
	}
	yes := true
	for _, tc := range []struct {
		name      string
		pod, ctr  *corev1.SeccompProfile
		privilege bool
		want      *runtime.Seccomp
	}{
		{name: "no profile anywhere: unconfined"},
		{name: "the pod's RuntimeDefault applies to its containers", pod: profile(corev1.SeccompProfileTypeRuntimeDefault, ""),
			want: &runtime.Seccomp{RuntimeDefault: true}},
		{name: "the container's Unconfined wins over the pod's", pod: profile(corev1.SeccompProfileTypeRuntimeDefault, ""),
			ctr: profile(corev1.SeccompProfileTypeUnconfined, "")},
		{name: "the container's Localhost wins, under the seccomp directory", pod: profile(corev1.SeccompProfileTypeRuntimeDefault, ""),
			ctr: profile(corev1.SeccompProfileTypeLocalhost, "profiles/audit.json"), want: &runtime.Seccomp{LocalhostPath: "/var/lib/peapod/seccomp/profiles/audit.json"}},
		{name: "a Localhost path cannot climb out of the directory", ctr: profile(corev1.SeccompProfileTypeLocalhost, "../../../etc/x.json"),
			want: &runtime.Seccomp{LocalhostPath: "/var/lib/peapod/seccomp/etc/x.json"}},
		{name: "a privileged container is unconfined", pod: profile(corev1.SeccompProfileTypeRuntimeDefault, ""), privilege: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{SeccompProfile: tc.pod}}}
			c := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{SeccompProfile: tc.ctr}}
			if tc.privilege {
				c.SecurityContext.Privileged = &yes
			}
			if got := seccomp(pod, c, "/var/lib/peapod/seccomp"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
