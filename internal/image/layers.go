package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func (s *Store) layerPath(diffID v1.Hash) string {
	return filepath.Join(s.dir, "layers", diffID.Algorithm, diffID.Hex)
}

// Layers makes sure every layer of img is unpacked (once per diffID, shared
// by all images) and returns their directories as overlayfs lowerdirs,
// topmost first.
func (s *Store) Layers(ctx context.Context, img *Image) ([]string, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec, _, _, err := idx.find(img.ID)
	if err != nil || rec.ID != img.ID {
		return nil, fmt.Errorf("image %s: %w", img.ID, ErrNotFound)
	}
	m, err := s.manifest(rec)
	if err != nil {
		return nil, err
	}
	c, err := s.configFile(rec)
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != len(c.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers but %d diffIDs", img.ID, len(m.Layers), len(c.RootFS.DiffIDs))
	}
	dirs := make([]string, len(m.Layers))
	var missing []int
	for i, d := range c.RootFS.DiffIDs {
		dirs[i] = s.layerPath(d)
		if _, err := os.Stat(dirs[i]); err != nil {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		unlock, err := s.lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		for _, i := range missing {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := s.unpackLayer(m.Layers[i], c.RootFS.DiffIDs[i]); err != nil {
				return nil, fmt.Errorf("image %s: %w", img.ID, err)
			}
		}
	}
	slices.Reverse(dirs)
	return dirs, nil
}

// unpackLayer unpacks one layer blob into layers/ unless another writer did
// meanwhile. The caller holds the lock.
func (s *Store) unpackLayer(desc v1.Descriptor, diffID v1.Hash) error {
	dst := s.layerPath(diffID)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if diffID.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: unsupported digest algorithm", diffID)
	}
	l, err := partial.CompressedToLayer(&blobLayer{path: s.blobPath(desc.Digest.String()), desc: desc})
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	rc, err := l.Uncompressed() // detects gzip, zstd or none
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	if err := Unpack(tee, tmp); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	// The diffID covers the tar's trailing padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return fmt.Errorf("layer %s: uncompressed digest sha256:%s, config says %s", desc.Digest, got, diffID)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	return nil
}

// blobLayer is a stored layer blob as ggcr's partial.CompressedLayer.
type blobLayer struct {
	path string
	desc v1.Descriptor
}

func (b *blobLayer) Digest() (v1.Hash, error) { return b.desc.Digest, nil }

func (b *blobLayer) Size() (int64, error) { return b.desc.Size, nil }

func (b *blobLayer) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

func (b *blobLayer) Compressed() (io.ReadCloser, error) { return os.Open(b.path) }
