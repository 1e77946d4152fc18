// Package image is peapod's image store: it pulls images from registries and
// loads them from archives (go-containerregistry does the formats), keeps
// their blobs by digest, and unpacks each layer once into a directory that
// serves as an overlayfs lowerdir.
//
// On disk, under the store's directory:
//
//	lock                   flock(2) held by every writer, in any process
//	index.json             names -> image records, replaced atomically
//	blobs/sha256/<hex>     manifests, configs and compressed layers
//	layers/sha256/<hex>/   unpacked layers, by diffID
//	tmp/                   work space of the writer holding the lock
//
// Every file and directory is completed under tmp/ and then renamed into
// place, so a crash leaves garbage in tmp/ (swept by the next writer) or
// unreferenced blobs (swept by the next Remove), never a half blob or layer
// under its final name.
package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// ErrNotFound is wrapped by the errors of Get, Tag, Remove and Layers for a
// reference the store does not hold.
var ErrNotFound = errors.New("image not found")

// Store is an image store in one directory. It is safe for concurrent use,
// also by several processes: writers serialize on a file lock (so pulls are
// serialized too, as the kubelet does by default), readers see the index as
// last replaced.
type Store struct {
	dir string
	// sem is held with the flock: flock(2) does not exclude goroutines
	// sharing the lock; a channel, so waiting for it can be given up.
	sem chan struct{}
}

// Image is an image held by the store.
type Image struct {
	ID      string   // "sha256:<hex>" of the image config
	Names   []string // normalized references pointing at it
	Digests []string // repo@sha256:<manifest or index digest> it was pulled as (CRI's RepoDigests)
	Size    int64    // compressed size of layers+config
	Created time.Time
	Config  v1.Config
}

type index struct {
	Images []*record `json:"images"`
}

// record is one image in index.json.
type record struct {
	ID       string   `json:"id"`
	Manifest string   `json:"manifest"` // digest of the stored (platform) manifest
	Names    []string `json:"names,omitempty"`
	Digests  []string `json:"digests,omitempty"`
}

// Open opens the store in dir, creating it if needed.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "layers", "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	// Layer dirs must be reachable by containers' users through overlayfs.
	if err := os.Chmod(filepath.Join(dir, "layers"), 0o711); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &Store{dir: dir, sem: make(chan struct{}, 1)}, nil
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", strings.Replace(digest, ":", string(filepath.Separator), 1))
}

// lock takes the store's write lock and clears tmp/: whatever is there was
// left by a writer that died holding the lock. It gives up when ctx ends.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("image store lock: %w", ctx.Err())
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		<-s.sem
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	// flock(2) has no timeout: it blocks in a goroutine of its own, which
	// releases the lock at once if it gets it after ctx ended.
	got := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				got <- err
				return
			}
		}
	}()
	select {
	case err = <-got:
	case <-ctx.Done():
		go func() { <-got; f.Close() }()
		<-s.sem
		return nil, fmt.Errorf("image store lock: %w", ctx.Err())
	}
	if err != nil {
		f.Close()
		<-s.sem
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	unlock = func() {
		f.Close() // releases the flock
		<-s.sem
	}
	tmp := filepath.Join(s.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("image store: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			unlock()
			return nil, fmt.Errorf("image store: clean tmp: %w", err)
		}
	}
	return unlock, nil
}

func (s *Store) readIndex() (*index, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("image store: index.json: %w", err)
	}
	return &idx, nil
}

// writeIndex replaces index.json; the caller holds the lock.
func (s *Store) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, "index.json"), b); err != nil {
		return fmt.Errorf("image store: write index: %w", err)
	}
	return nil
}

// writeFile durably writes data to a temp file and renames it to dst.
func (s *Store) writeFile(dst string, data []byte) error {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "file-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// writeBlob stores the content of r under digest want, verifying it; a blob
// already present is kept. The caller holds the lock.
func (s *Store) writeBlob(want v1.Hash, r io.Reader) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: unsupported digest algorithm", want)
	}
	dst := s.blobPath(want.String())
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	_, err = io.Copy(f, io.TeeReader(r, h))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", want, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("blob %s: content has digest sha256:%s", want, got)
	}
	return os.Rename(f.Name(), dst)
}

func (s *Store) writeBytes(b []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return v1.Hash{}, err
	}
	return h, s.writeBlob(h, bytes.NewReader(b))
}

// MaxConcurrentDownloads is how many layers of an image are fetched at
// once: dockerd's and containerd's default.
const MaxConcurrentDownloads = 3

// ctxReader stops reading once ctx ends: a layer being fetched when
// another failed, or when the pull was cancelled, stops at its next read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// put stores img's layers (downloads of them at once), config and manifest
// and returns its record (not yet in the index). The caller holds the lock.
func (s *Store) put(ctx context.Context, img v1.Image, prog *progress, downloads int) (*record, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if prog != nil {
		for _, l := range layers {
			d, err := l.Digest()
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(s.blobPath(d.String())); err == nil {
				continue
			}
			if n, err := l.Size(); err == nil {
				prog.total.Add(n)
			}
		}
	}
	// Layers are fetched downloads at a time, each into a temporary file
	// of its own; the first failure cancels the others.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(downloads)
	for _, l := range layers {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			d, err := l.Digest()
			if err != nil {
				return err
			}
			if _, err := os.Stat(s.blobPath(d.String())); err == nil {
				return nil
			}
			rc, err := l.Compressed()
			if err != nil {
				return fmt.Errorf("layer %s: %w", d, err)
			}
			defer rc.Close()
			var r io.Reader = ctxReader{gctx, rc}
			if prog != nil {
				r = io.TeeReader(r, prog)
			}
			if err := s.writeBlob(d, r); err != nil {
				return fmt.Errorf("layer %s: %w", d, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	id, err := s.writeBytes(cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// The manifest goes last: its presence means the rest is there.
	m, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	md, err := s.writeBytes(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &record{ID: id.String(), Manifest: md.String()}, nil
}

// add puts rec into idx with names and digests, moving each name from the
// image that had it. An image that so loses its last name stays, nameless,
// until removed by ID: a container may still run from it.
func (idx *index) add(rec *record, names, digests []string) *record {
	var cur *record
	for _, r := range idx.Images {
		if r.ID == rec.ID {
			cur = r
		}
	}
	if cur == nil {
		cur = rec
		idx.Images = append(idx.Images, cur)
	}
	cur.Manifest = rec.Manifest
	for _, n := range names {
		for _, r := range idx.Images {
			if r != cur {
				r.Names = slices.DeleteFunc(r.Names, func(x string) bool { return x == n })
			}
		}
		if !slices.Contains(cur.Names, n) {
			cur.Names = append(cur.Names, n)
		}
	}
	for _, d := range digests {
		if !slices.Contains(cur.Digests, d) {
			cur.Digests = append(cur.Digests, d)
		}
	}
	return cur
}

// how a reference matched a record
type matchKind int

const (
	byName matchKind = iota
	byDigest
	byID
)

// find resolves ref to a record: a name, a repo@digest, or an ID or a unique
// prefix of one.
func (idx *index) find(ref string) (*record, matchKind, string, error) {
	if norm, err := Normalize(ref); err == nil {
		for _, r := range idx.Images {
			if slices.Contains(r.Names, norm) {
				return r, byName, norm, nil
			}
		}
		for _, r := range idx.Images {
			if slices.Contains(r.Digests, norm) {
				return r, byDigest, norm, nil
			}
		}
	}
	if idPattern.MatchString(ref) {
		prefix := ref
		if !strings.HasPrefix(prefix, "sha256:") {
			prefix = "sha256:" + prefix
		}
		var found *record
		for _, r := range idx.Images {
			if strings.HasPrefix(r.ID, prefix) {
				if found != nil {
					return nil, 0, "", fmt.Errorf("image %q: ambiguous ID prefix", ref)
				}
				found = r
			}
		}
		if found != nil {
			return found, byID, found.ID, nil
		}
	}
	return nil, 0, "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
}

// readBlob reads a stored blob.
func (s *Store) readBlob(digest string) ([]byte, error) {
	b, err := os.ReadFile(s.blobPath(digest))
	if err != nil {
		return nil, fmt.Errorf("image store: blob %s: %w", digest, err)
	}
	return b, nil
}

func (s *Store) manifest(rec *record) (*v1.Manifest, error) {
	b, err := s.readBlob(rec.Manifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", rec.ID, err)
	}
	return m, nil
}

func (s *Store) configFile(rec *record) (*v1.ConfigFile, error) {
	b, err := s.readBlob(rec.ID)
	if err != nil {
		return nil, err
	}
	c, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", rec.ID, err)
	}
	return c, nil
}

func (s *Store) image(rec *record) (*Image, error) {
	m, err := s.manifest(rec)
	if err != nil {
		return nil, err
	}
	c, err := s.configFile(rec)
	if err != nil {
		return nil, err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return &Image{
		ID:      rec.ID,
		Names:   slices.Clone(rec.Names),
		Digests: slices.Clone(rec.Digests),
		Size:    size,
		Created: c.Created.Time,
		Config:  c.Config,
	}, nil
}

// Get returns the image that ref names: a reference (normalized first), a
// repo@digest it was pulled as, or an image ID or unique ID prefix.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec, _, _, err := idx.find(ref)
	if err != nil {
		return nil, err
	}
	return s.image(rec)
}

// List returns every image in the store, named or not.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	imgs := make([]*Image, 0, len(idx.Images))
	for _, rec := range idx.Images {
		img, err := s.image(rec)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// Tag points the name dst at the image src resolves to.
func (s *Store) Tag(ctx context.Context, src, dst string) error {
	norm, err := Normalize(dst)
	if err != nil {
		return err
	}
	if strings.Contains(norm, "@") {
		return fmt.Errorf("tag %q: a tag cannot be a digest reference", dst)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	rec, _, _, err := idx.find(src)
	if err != nil {
		return err
	}
	idx.add(rec, []string{norm}, nil)
	return s.writeIndex(idx)
}
