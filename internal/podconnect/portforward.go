package podconnect

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
)

const (
	// portForwardProtocol is the SPDY subprotocol of port-forward.
	portForwardProtocol = "portforward.k8s.io"
	// tunnelProtocol is kubectl's WebSocket tunnel: its binary messages
	// carry the bytes of an ordinary SPDY/3.1 connection.
	tunnelProtocol = "SPDY/3.1+" + portForwardProtocol
)

// servePortForward answers port-forward over the WebSocket tunnel kubectl
// 1.32 tries first, or plain SPDY. Either way each forwarded connection is
// a pair of SPDY streams (error, data) with the same requestID and port.
func (h Handler) servePortForward(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	fwd := &portForwarder{ctx: ctx, node: h.Node, pod: pod, streams: make(chan httpstream.Stream, 4)}
	handler := func(st httpstream.Stream, _ <-chan struct{}) error {
		if _, err := streamPort(st); err != nil {
			return err
		}
		select {
		case fwd.streams <- st:
		case <-ctx.Done():
		}
		return nil
	}
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		websocket.Server{
			Handshake: func(cfg *websocket.Config, _ *http.Request) error {
				for _, p := range cfg.Protocol {
					if p == tunnelProtocol {
						cfg.Protocol = []string{p}
						return nil
					}
				}
				return fmt.Errorf("no supported subprotocol in %q", cfg.Protocol)
			},
			Handler: func(ws *websocket.Conn) {
				ws.PayloadType = websocket.BinaryFrame
				conn, err := spdy.NewServerConnectionWithPings(ws, handler, 5*time.Second)
				if err != nil {
					return
				}
				fwd.serve(conn)
			},
		}.ServeHTTP(w, r)
		return nil
	}
	if !isSPDY(r) {
		return badRequestf("portforward requires a WebSocket or SPDY/3.1 upgrade")
	}
	// Handshake and UpgradeResponse answer a failure themselves.
	if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
		return nil
	}
	if conn := spdy.NewResponseUpgraderWithPings(5*time.Second).UpgradeResponse(w, r, handler); conn != nil {
		fwd.serve(conn)
	}
	return nil
}

func streamPort(st httpstream.Stream) (int32, error) {
	h := st.Headers()
	switch h.Get(corev1.StreamType) {
	case corev1.StreamTypeError, corev1.StreamTypeData:
	default:
		return 0, fmt.Errorf("invalid stream type %q", h.Get(corev1.StreamType))
	}
	p, err := strconv.ParseUint(h.Get(corev1.PortHeader), 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("invalid port %q", h.Get(corev1.PortHeader))
	}
	return int32(p), nil
}

type portForwarder struct {
	ctx     context.Context
	node    NodeStreams
	pod     *corev1.Pod
	streams chan httpstream.Stream
}

// serve pairs streams by requestID and forwards each pair until the
// connection ends.
func (f *portForwarder) serve(conn httpstream.Connection) {
	defer conn.Close()
	conn.SetIdleTimeout(streamIdleTimeout)
	type pair struct{ data, errs httpstream.Stream }
	pending := map[string]*pair{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var st httpstream.Stream
		select {
		case st = <-f.streams:
		case <-conn.CloseChan():
			return
		case <-f.ctx.Done():
			return
		}
		id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
		p := pending[id]
		if p == nil {
			p = &pair{}
			pending[id] = p
		}
		if st.Headers().Get(corev1.StreamType) == corev1.StreamTypeData {
			p.data = st
		} else {
			p.errs = st
		}
		if p.data == nil || p.errs == nil {
			continue
		}
		delete(pending, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.errs.Close()
			defer p.data.Close()
			port, _ := streamPort(p.data)
			if err := f.node.PortForward(f.ctx, f.pod, port, p.data); err != nil {
				fmt.Fprintf(p.errs, "error forwarding port %d to pod %s, uid %v: %v", port, f.pod.Name, f.pod.UID, err)
			}
		}()
	}
}
