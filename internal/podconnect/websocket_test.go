package podconnect

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"

	"peapod/internal/registry"
)

// fakeNode answers exec with "out" on stdout and fails a command named
// "fail"; its log is two lines.
type fakeNode struct{}

func (fakeNode) ContainerLogs(context.Context, *corev1.Pod, string, *corev1.PodLogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("line 1\nline 2\n")), nil
}

func (fakeNode) Exec(_ context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, _ io.Writer, _ bool, _ <-chan remotecommand.TerminalSize) error {
	if cmd[0] == "fail" {
		return errors.New("boom")
	}
	_, err := io.WriteString(stdout, "out")
	return err
}

func (fakeNode) Attach(context.Context, *corev1.Pod, string, io.Reader, io.Writer, io.Writer, bool, <-chan remotecommand.TerminalSize) error {
	return nil
}

func (fakeNode) PortForward(context.Context, *corev1.Pod, int32, io.ReadWriteCloser) error {
	return nil
}

func wsServer(t *testing.T, sub string) string {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c"}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := (Handler{Node: fakeNode{}}).Connect(w, r, pod, registry.ConnectRequest{Subresource: sub}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// readAll collects the frames of a WebSocket until it closes.
func readAll(t *testing.T, ws *websocket.Conn) []string {
	var frames []string
	for {
		var msg string
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return frames
		}
		frames = append(frames, msg)
	}
}

// The older channel protocols the e2e suite still speaks: one channel
// byte (or digit, base64) before each frame; before v4 the error channel
// carries the failure's text.
func TestWebSocketExec_OldProtocols(t *testing.T) {
	url := wsServer(t, "exec")
	for _, tc := range []struct {
		protocol, command string
		want              []string // channel + payload
	}{
		{"channel.k8s.io", "echo", []string{"\x01out"}},
		{"base64.channel.k8s.io", "echo", []string{"1" + base64.StdEncoding.EncodeToString([]byte("out"))}},
		{"channel.k8s.io", "fail", []string{"\x03boom"}},
	} {
		cfg, _ := websocket.NewConfig(url+"/exec?command="+tc.command+"&stdout=1&stderr=1", "http://localhost")
		cfg.Protocol = []string{tc.protocol}
		ws, err := websocket.DialConfig(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.protocol, err)
		}
		var got []string
		for _, f := range readAll(t, ws) {
			if len(f) > 1 { // channels announce themselves with empty frames
				got = append(got, f)
			}
		}
		ws.Close()
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s %s: frames %q, want %q", tc.protocol, tc.command, got, tc.want)
		}
	}
}

func TestWebSocketLogs(t *testing.T) {
	url := wsServer(t, "log")
	for protocol, want := range map[string]string{
		"binary.k8s.io":        "line 1\nline 2\n",
		"base64.binary.k8s.io": base64.StdEncoding.EncodeToString([]byte("line 1\nline 2\n")),
	} {
		cfg, _ := websocket.NewConfig(url+"/log", "http://localhost")
		cfg.Protocol = []string{protocol}
		ws, err := websocket.DialConfig(cfg)
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		got := strings.Join(readAll(t, ws), "")
		ws.Close()
		if protocol == "base64.binary.k8s.io" {
			// Frames are encoded one by one; compare the decoded bytes.
			if b, err := base64.StdEncoding.DecodeString(got); err == nil {
				got = base64.StdEncoding.EncodeToString(b)
			}
		}
		if got != want {
			t.Errorf("%s: %q, want %q", protocol, got, want)
		}
	}
}
