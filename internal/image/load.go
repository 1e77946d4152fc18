package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// loaded is an image read from an archive, with the names it carries.
type loaded struct {
	img     v1.Image
	names   []string
	digests []string
}

// Load stores the images of a docker-archive (docker save), an OCI archive
// (a tar of an OCI layout) or an OCI layout directory at p; either archive
// may be gzipped. Names come from RepoTags or ref.name annotations; an image
// without a usable name is stored nameless, for Tag by ID.
func (s *Store) Load(ctx context.Context, p string) ([]*Image, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var imgs []loaded
	if fi.IsDir() {
		imgs, err = readLayout(p)
	} else {
		var cleanup func()
		imgs, cleanup, err = s.readArchive(p)
		defer cleanup()
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("load %s: no image for %s/%s", p, platform().OS, platform().Architecture)
	}

	var recs []*record
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	for _, l := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := s.put(ctx, l.img, nil, 1) // a local file: one at a time
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", p, err)
		}
		recs = append(recs, idx.add(rec, l.names, l.digests))
	}
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(recs))
	for _, rec := range recs {
		img, err := s.image(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// openMaybeGzip opens p, decompressing it if it is gzipped.
func openMaybeGzip(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

// readArchive tells a docker-archive (manifest.json) from an OCI archive
// (index.json). docker save since v25 writes both; manifest.json is then
// preferred for its RepoTags. The images read until cleanup is called.
func (s *Store) readArchive(p string) (imgs []loaded, cleanup func(), err error) {
	cleanup = func() {}
	rc, err := openMaybeGzip(p)
	if err != nil {
		return nil, cleanup, err
	}
	var docker, oci bool
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rc.Close()
			return nil, cleanup, fmt.Errorf("not a tar archive: %w", err)
		}
		switch path.Clean(hdr.Name) {
		case "manifest.json":
			docker = true
		case "index.json":
			oci = true
		}
	}
	rc.Close()
	switch {
	case docker:
		imgs, err := readDockerArchive(func() (io.ReadCloser, error) { return openMaybeGzip(p) })
		return imgs, cleanup, err
	case oci:
		// Unpack is confined to the dir, so a hostile archive cannot escape.
		dir, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "oci-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		rc, err := openMaybeGzip(p)
		if err != nil {
			return nil, cleanup, err
		}
		err = Unpack(rc, dir)
		rc.Close()
		if err != nil {
			return nil, cleanup, err
		}
		imgs, err := readLayout(dir)
		return imgs, cleanup, err
	}
	return nil, cleanup, errors.New("neither a docker-archive (manifest.json) nor an OCI archive (index.json)")
}

func readDockerArchive(opener tarball.Opener) ([]loaded, error) {
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var out []loaded
	for i, d := range m {
		var names []string
		for _, t := range d.RepoTags {
			norm, err := Normalize(t)
			if err != nil {
				return nil, fmt.Errorf("RepoTags: %w", err)
			}
			names = append(names, norm)
		}
		var tag *name.Tag
		switch {
		case len(d.RepoTags) > 0:
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("RepoTags: %w", err)
			}
			tag = &t
		case len(m) > 1:
			// tarball.Image can only pick an image of several by tag.
			return nil, fmt.Errorf("image %d of %d has no RepoTags", i+1, len(m))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, err
		}
		out = append(out, loaded{img: img, names: names})
	}
	return out, nil
}

// readLayout reads the images of an OCI layout; of an index, the one for
// platform().
func readLayout(dir string) ([]loaded, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []loaded
	for _, desc := range im.Manifests {
		var l loaded
		if n, ok := refName(desc.Annotations); ok {
			l.names = []string{n}
			if d, err := repoDigest(n, desc.Digest.String()); err == nil {
				l.digests = []string{d}
			}
		}
		switch desc.MediaType {
		case types.OCIImageIndex, types.DockerManifestList:
			child, err := ii.ImageIndex(desc.Digest)
			if err != nil {
				return nil, err
			}
			img, err := platformImage(child)
			if err != nil {
				return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
			}
			if img == nil {
				continue
			}
			l.img = img
		case types.OCIManifestSchema1, types.DockerManifestSchema2:
			if desc.Platform != nil && !desc.Platform.Satisfies(platform()) {
				continue // one platform of a multi-platform image laid out flat
			}
			img, err := ii.Image(desc.Digest)
			if err != nil {
				return nil, err
			}
			l.img = img
		default:
			continue // attestations, signatures and other artifacts
		}
		out = append(out, l)
	}
	return out, nil
}

// platformImage picks the image for platform() from an index, or nil.
func platformImage(ii v1.ImageIndex) (v1.Image, error) {
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform == nil || !d.Platform.Satisfies(platform()) {
			continue
		}
		switch d.MediaType {
		case types.OCIManifestSchema1, types.DockerManifestSchema2:
			return ii.Image(d.Digest)
		}
	}
	return nil, nil
}
