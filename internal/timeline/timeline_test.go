package timeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestRows(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers:      []corev1.Container{{Name: "init"}, {Name: "proxy", RestartPolicy: &always}},
		Containers:          []corev1.Container{{Name: "app"}, {Name: "exporter"}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger"}}},
	}}
	got := fmt.Sprint(Rows(pod))
	if want := "[{init init} {proxy sidecar} {app main} {exporter main} {debugger ephemeral}]"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
}

func TestChanges(t *testing.T) {
	yes := true
	finished := metav1.NewTime(t0.Add(-time.Second))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", StartupProbe: &corev1.Probe{}}, {Name: "plain"}}}
	for _, tc := range []struct {
		name     string
		old, cur corev1.PodStatus
		want     string
	}{
		{"the phase changes", corev1.PodStatus{Phase: corev1.PodPending}, corev1.PodStatus{Phase: corev1.PodRunning}, "[Phase Running]"},
		{"a failed pod is a warning", corev1.PodStatus{Phase: corev1.PodRunning}, corev1.PodStatus{Phase: corev1.PodFailed}, "[Phase Failed !]"},
		{"a container becomes ready",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running, Ready: true}}}, "[plain Ready]"},
		{"a running container stops being ready",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running, Ready: true}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running}}}, "[plain NotReady]"},
		{"an exit, not also a readiness change",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running, Ready: true}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Signal: 9, Reason: "OOMKilled", FinishedAt: finished}}}}},
			"[plain Exited exit 137, signal 9 (OOMKilled) !]"},
		{"the same exit again is not new",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: finished}}}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: finished}}}}}, "[]"},
		{"a startup probe passes",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running, Started: &yes}}}, "[app StartupProbeSucceeded]"},
		{"started without a startup probe says nothing",
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "plain", State: running, Started: &yes}}}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: spec, Status: tc.cur}
			var got []string
			for _, e := range Changes(pod, &tc.old, t0) {
				s := strings.TrimSpace(e.Container + " " + e.Kind + " " + e.Detail)
				if e.Warning {
					s += " !"
				}
				got = append(got, s)
			}
			if s := fmt.Sprint(got); s != tc.want && !(tc.want == "[]" && len(got) == 0) {
				t.Errorf("changes %s, want %s", s, tc.want)
			}
		})
	}
}

// A Book's pictures survive a restart (a new Book on the same
// directory), a torn last line is left out, a pod keeps its newest
// MaxEntries, and a forgotten pod leaves no file.
func TestBook_Persists(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	head := Pod{Namespace: "default", Name: "p", UID: "u1", Containers: []Container{{Name: "app", Role: "main"}}}
	b.Add(head, Entry{Time: t0, Container: "app", Kind: "Created"})
	b.Add(head, Entry{Time: t0.Add(time.Second), Container: "app", Kind: "Started"})
	f, err := os.OpenFile(filepath.Join(dir, "u1.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-06T12:00:02Z","kind":"Ki`) // a crash mid-append
	f.Close()
	again, err := NewBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := again.Get("u1")
	if p == nil || len(p.Entries) != 2 || p.Entries[1].Kind != "Started" || p.Containers[0].Role != "main" {
		t.Fatalf("after a restart: %+v", p)
	}
	for i := range MaxEntries + 10 {
		again.Add(head, Entry{Time: t0.Add(time.Duration(i) * time.Second), Kind: fmt.Sprint(i)})
	}
	if p := again.Get("u1"); len(p.Entries) != MaxEntries || p.Entries[MaxEntries-1].Kind != fmt.Sprint(MaxEntries+9) {
		t.Errorf("%d entries kept, the last %q", len(p.Entries), p.Entries[len(p.Entries)-1].Kind)
	}
	if p, _, _ := readPod(filepath.Join(dir, "u1.jsonl")); p == nil || len(p.Entries) != MaxEntries || p.Entries[MaxEntries-1].Kind != fmt.Sprint(MaxEntries+9) || p.Entries[0].Kind != "10" {
		t.Errorf("the file holds %v", p)
	}
	again.Keep(func(string) bool { return false })
	if _, err := os.Stat(filepath.Join(dir, "u1.jsonl")); !os.IsNotExist(err) || again.Get("u1") != nil {
		t.Errorf("a pod no longer kept: file %v", err)
	}
}

func TestBook_Watch(t *testing.T) {
	b, _ := NewBook("")
	head := Pod{Namespace: "default", Name: "p", UID: "u"}
	b.Add(head, Entry{Time: t0, Kind: "Created"})
	so, added, stop := b.Watch("u")
	defer stop()
	if so == nil || len(so.Entries) != 1 {
		t.Fatalf("so far: %+v", so)
	}
	b.Add(head, Entry{Time: t0, Kind: "Started"})
	select {
	case e := <-added:
		if e.Kind != "Started" {
			t.Errorf("watched %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing watched")
	}
}

// The file up writes draws without the network: no URL is fetched.
func TestWritePage_SelfContained(t *testing.T) {
	var buf bytes.Buffer
	pods := []*Pod{{Namespace: "default", Name: "p", UID: "u", Entries: []Entry{{Time: t0, Kind: "Started", Detail: "</script><script>alert(1)</script>"}}}}
	if err := WritePage(&buf, pods); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if m := regexp.MustCompile(`(src|href)="(https?:)?//|@import|url\(`).FindString(page); m != "" {
		t.Errorf("the page fetches something: %q", m)
	}
	if strings.Count(page, "</script>") != 2 || !strings.Contains(page, `\u003c/script\u003e`) {
		t.Errorf("the data can end its script element")
	}
}

// A Recorder writes what it is told into its Book, and passes the rest on.
func TestRecorder(t *testing.T) {
	b, _ := NewBook("")
	r := &Recorder{Book: b, Now: func() time.Time { return t0 }}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "u"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	r.Event(pod, "app", corev1.EventTypeNormal, "Started", "Started container app")
	pod.Status.Phase = corev1.PodRunning
	r.Status(pod)
	r.Hook(pod, "app", "PreStop", 1500*time.Millisecond, nil)
	r.Hook(pod, "app", "PostStart", 0, errors.New("exit status 1"))
	r.Signal(pod, "app", syscall.SIGQUIT, 30*time.Second)
	var got []string
	for _, e := range b.Get("u").Entries {
		got = append(got, fmt.Sprintf("%s/%s/%s/%v", e.Container, e.Kind, e.Detail, e.Warning))
	}
	want := []string{"app/Started/Started container app/false", "/Phase/Running/false", "app/PreStop/ran 1.5s/false",
		"app/PostStart/exit status 1/true", "app/Signal/SIGQUIT (quit), SIGKILL after 30s/false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A pod adopted after a restart is not drawn again: the status it had is
// no change.
func TestRecorder_Seen(t *testing.T) {
	b, _ := NewBook("")
	r := &Recorder{Book: b, Now: func() time.Time { return t0 }}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "u"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	r.Seen(pod)
	r.Status(pod)
	if p := b.Get("u"); p != nil {
		t.Errorf("an adopted pod's known status drawn again: %+v", p.Entries)
	}
}
