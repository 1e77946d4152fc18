package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Remove removes a name from its image, or, given an ID or a repo@digest, the
// image with all its names. An image left without names is deleted, and
// then its blobs and unpacked layers that no other image uses.
func (s *Store) Remove(ctx context.Context, ref string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	rec, kind, key, err := idx.find(ref)
	if err != nil {
		return err
	}
	if kind == byName {
		rec.Names = slices.DeleteFunc(rec.Names, func(n string) bool { return n == key })
	}
	if kind != byName || len(rec.Names) == 0 {
		idx.Images = slices.DeleteFunc(idx.Images, func(r *record) bool { return r == rec })
	}
	// The index goes first: a crash before the sweep leaves only garbage.
	if err := s.writeIndex(idx); err != nil {
		return err
	}
	if err := s.gc(idx); err != nil {
		return fmt.Errorf("removed %q, but: %w", ref, err)
	}
	return nil
}

// gc deletes the blobs and unpacked layers that no image in idx uses,
// including any left by a crash. The caller holds the lock.
func (s *Store) gc(idx *index) error {
	blobs := map[string]bool{}
	layers := map[string]bool{}
	for _, rec := range idx.Images {
		m, err := s.manifest(rec)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		c, err := s.configFile(rec)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		blobs[rec.Manifest] = true
		blobs[m.Config.Digest.String()] = true
		for _, l := range m.Layers {
			blobs[l.Digest.String()] = true
		}
		for _, d := range c.RootFS.DiffIDs {
			layers[d.Hex] = true
		}
	}
	blobDir := filepath.Join(s.dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if !blobs["sha256:"+e.Name()] {
			if err := os.Remove(filepath.Join(blobDir, e.Name())); err != nil {
				return fmt.Errorf("gc: %w", err)
			}
		}
	}
	layerDir := filepath.Join(s.dir, "layers", "sha256")
	ents, err = os.ReadDir(layerDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if layers[e.Name()] {
			continue
		}
		// Out of sight first, so a half-deleted layer is never in place.
		tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "gc-")
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if err := os.Rename(filepath.Join(layerDir, e.Name()), filepath.Join(tmp, "layer")); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return nil
}
