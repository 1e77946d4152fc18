package podconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	rcconst "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// commandFunc runs an exec or attach with the streams the client opened.
type commandFunc func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error

// streamIdleTimeout ends a stream nobody uses, the kubelet's default.
const streamIdleTimeout = 4 * time.Hour

// The WebSocket channel protocols, as the kubelet's streaming server names
// them: before v4 the error channel carries a plain message, from v4 a
// Status; the base64 ones send text frames.
const (
	preV4BinaryWebsocketProtocol = wsstream.ChannelWebSocketProtocol       // "channel.k8s.io"
	preV4Base64WebsocketProtocol = wsstream.Base64ChannelWebSocketProtocol // "base64.channel.k8s.io"
	v4Base64WebsocketProtocol    = "v4." + wsstream.Base64ChannelWebSocketProtocol
)

// serveWebSocketCommand speaks the channel protocols: v5 (v4 plus the
// CLOSE signal kubectl sends at stdin EOF), which kubectl tries first, v4
// and the older ones the kubelet still serves (channel.k8s.io and the
// base64 forms), one channel byte before each message.
func serveWebSocketCommand(w http.ResponseWriter, r *http.Request, o commandOptions, run commandFunc) {
	ch := []wsstream.ChannelType{wsstream.IgnoreChannel, wsstream.IgnoreChannel, wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}
	if o.stdin {
		ch[rcconst.StreamStdIn] = wsstream.ReadChannel
	}
	if o.stdout {
		ch[rcconst.StreamStdOut] = wsstream.WriteChannel
	}
	if o.stderr && !o.tty {
		ch[rcconst.StreamStdErr] = wsstream.WriteChannel
	}
	if o.tty {
		ch[rcconst.StreamResize] = wsstream.ReadChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"":                           {Binary: true, Channels: ch},
		preV4BinaryWebsocketProtocol: {Binary: true, Channels: ch},
		preV4Base64WebsocketProtocol: {Binary: false, Channels: ch},
		rcconst.StreamProtocolV4Name: {Binary: true, Channels: ch},
		v4Base64WebsocketProtocol:    {Binary: false, Channels: ch},
		rcconst.StreamProtocolV5Name: {Binary: true, Channels: ch},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	protocol, streams, err := conn.Open(w, r)
	if err != nil {
		return // the handshake answered already
	}
	defer conn.Close()
	var stdin io.Reader
	var stdout, stderr io.Writer
	if o.stdin {
		stdin = streams[rcconst.StreamStdIn]
	}
	if o.stdout {
		stdout = streams[rcconst.StreamStdOut]
	}
	if o.stderr && !o.tty {
		stderr = streams[rcconst.StreamStdErr]
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var resize <-chan remotecommand.TerminalSize
	if o.tty {
		resize = decodeResizes(ctx, streams[rcconst.StreamResize])
	}
	err = run(ctx, stdin, stdout, stderr, resize)
	switch protocol {
	case rcconst.StreamProtocolV4Name, v4Base64WebsocketProtocol, rcconst.StreamProtocolV5Name:
		writeCommandStatus(streams[rcconst.StreamErr], err)
	default:
		// Before v4: the error's text, nothing on success.
		if err != nil {
			_, _ = io.WriteString(streams[rcconst.StreamErr], err.Error())
		}
	}
}

// decodeResizes turns the resize stream's JSON objects
// ({"Width":W,"Height":H}) into sizes.
func decodeResizes(ctx context.Context, r io.Reader) <-chan remotecommand.TerminalSize {
	out := make(chan remotecommand.TerminalSize, 1)
	go func() {
		defer close(out)
		dec := json.NewDecoder(r)
		for {
			var sz remotecommand.TerminalSize
			if err := dec.Decode(&sz); err != nil {
				return
			}
			select {
			case out <- sz:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// commandStatus is the Status the error stream carries at the end (v4
// and later): Success, a NonZeroExitCode with the code as a cause, or the
// failure's message.
func commandStatus(err error) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  rcconst.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exit),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: rcconst.ExitCodeCauseType, Message: fmt.Sprint(exit.ExitStatus()),
			}}},
		}
	}
	return apierrors.NewInternalError(err).ErrStatus
}

func writeCommandStatus(w io.Writer, err error) {
	st := commandStatus(err)
	data, _ := json.Marshal(st)
	_, _ = w.Write(data)
}

// serveSPDYCommand is kubectl's fallback: SPDY/3.1 with one stream per
// channel, told apart by their streamType header. v5 over SPDY is v4.
func serveSPDYCommand(w http.ResponseWriter, r *http.Request, o commandOptions, run commandFunc) {
	if _, err := httpstream.Handshake(r, w, []string{rcconst.StreamProtocolV5Name, rcconst.StreamProtocolV4Name}); err != nil {
		return // answered with 403 and the versions we speak
	}
	type opened struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	arrived := make(chan opened, 8)
	conn := spdy.NewResponseUpgraderWithPings(5*time.Second).UpgradeResponse(w, r, func(s httpstream.Stream, replySent <-chan struct{}) error {
		arrived <- opened{s, replySent}
		return nil
	})
	if conn == nil {
		return // the upgrader answered
	}
	defer conn.Close()
	conn.SetIdleTimeout(streamIdleTimeout)

	want := 1 // the error stream
	for _, b := range []bool{o.stdin, o.stdout, o.stderr && !o.tty, o.tty} {
		if b {
			want++
		}
	}
	byType := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timeout := time.NewTimer(rcconst.DefaultStreamCreationTimeout)
	defer timeout.Stop()
	for len(byType) < want {
		select {
		case s := <-arrived:
			byType[s.stream.Headers().Get(corev1.StreamType)] = s.stream
			replies = append(replies, s.replySent)
		case <-timeout.C:
			return
		case <-conn.CloseChan():
			return
		}
	}
	for _, c := range replies {
		<-c
	}
	errStream := byType[corev1.StreamTypeError]
	if errStream == nil {
		return
	}
	defer errStream.Close()
	var stdin io.Reader
	var stdout, stderr io.Writer
	if s := byType[corev1.StreamTypeStdin]; o.stdin && s != nil {
		stdin = s
	}
	if s := byType[corev1.StreamTypeStdout]; o.stdout && s != nil {
		stdout = s
		defer s.Close()
	}
	if s := byType[corev1.StreamTypeStderr]; o.stderr && !o.tty && s != nil {
		stderr = s
		defer s.Close()
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var resize <-chan remotecommand.TerminalSize
	if s := byType[corev1.StreamTypeResize]; o.tty && s != nil {
		resize = decodeResizes(ctx, s)
	}
	writeCommandStatus(errStream, run(ctx, stdin, stdout, stderr, resize))
}
