package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/term"
)

// PullOptions tune Pull.
type PullOptions struct {
	Insecure bool      // plain HTTP (for a loopback registry)
	Progress io.Writer // when non-nil and a terminal, a progress display; else nothing
	// Downloads is how many layers are fetched at once; 0:
	// MaxConcurrentDownloads.
	Downloads int
}

// platform is what peapod runs: the image for it is picked from an index.
func platform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Pull fetches ref from its registry, authenticating with the credentials of
// ~/.docker/config.json, and stores it under the normalized ref.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	norm, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(norm, nopts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	desc, err := remote.Get(r,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(platform()))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	img, err := desc.Image() // for an index, the manifest for platform()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	digest, err := repoDigest(norm, desc.Digest.String())
	if err != nil {
		return nil, err
	}

	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	prog := newProgress(opts.Progress, norm)
	downloads := opts.Downloads
	if downloads <= 0 {
		downloads = MaxConcurrentDownloads
	}
	rec, err := s.put(ctx, img, prog, downloads)
	prog.done()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec = idx.add(rec, []string{norm}, []string{digest})
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	return s.image(rec)
}

// progress draws one line of bytes fetched on a terminal.
type progress struct {
	w     io.Writer
	ref   string
	total atomic.Int64
	mu    sync.Mutex
	n     int64
	last  time.Time
}

// newProgress returns nil, which draws nothing, unless w is a terminal.
func newProgress(w io.Writer, ref string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: w, ref: ref}
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[Kpulling %s: %s / %s", p.ref, mib(p.n), mib(p.total.Load()))
}

func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	fmt.Fprintln(p.w)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
