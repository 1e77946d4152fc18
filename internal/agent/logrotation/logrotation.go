// Package logrotation decides and does the rotation of container logs, as
// the kubelet's container log manager: when a running container's log
// reaches the maximum size it is renamed to <log>.<timestamp> and the
// runtime reopens the log at its path; the newest rotated file stays as
// it is, older ones are gzipped, and the oldest removed so that a
// container has at most MaxFiles files, the live one included.
package logrotation

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The kubelet's defaults (containerLogMaxSize, containerLogMaxFiles).
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// timestampFormat is the suffix of a rotated file, the kubelet's.
const timestampFormat = "20060102-150405"

const (
	compressSuffix = ".gz"
	tmpSuffix      = ".tmp"
)

// Decision is what to do with one log: every step is a file name.
type Decision struct {
	// Remove are leftovers and the oldest rotated files beyond the limit.
	Remove []string
	// Compress are rotated files to gzip (all but the newest kept).
	Compress []string
	// RotateTo is the live log's new name, "" if it is not rotated.
	RotateTo string
}

// Decide is the kubelet's rotation of the live log at path, given the
// names of its rotated files (path.*), the live file's size and the
// limits. It is pure.
func Decide(path string, rotated []string, size, maxSize int64, maxFiles int, now time.Time) Decision {
	var d Decision
	if size < maxSize {
		return d
	}
	names := map[string]bool{}
	for _, r := range rotated {
		names[r] = true
	}
	var keep []string
	for _, r := range rotated {
		switch {
		case strings.HasSuffix(r, tmpSuffix):
			// A compression that did not finish.
			d.Remove = append(d.Remove, r)
		case !strings.HasSuffix(r, compressSuffix) && names[r+compressSuffix]:
			// Compressed, but the original was not removed yet.
			d.Remove = append(d.Remove, r)
		default:
			keep = append(keep, r)
		}
	}
	// The timestamps sort by time; ".gz" does not change the order.
	slices.SortFunc(keep, func(a, b string) int {
		return strings.Compare(strings.TrimSuffix(a, compressSuffix), strings.TrimSuffix(b, compressSuffix))
	})
	// The live file and the one rotated now count too.
	if excess := len(keep) - max(maxFiles-2, 0); excess > 0 {
		d.Remove = append(d.Remove, keep[:excess]...)
		keep = keep[excess:]
	}
	for _, r := range keep {
		if !strings.HasSuffix(r, compressSuffix) {
			d.Compress = append(d.Compress, r)
		}
	}
	d.RotateTo = path + "." + now.Format(timestampFormat)
	return d
}

// Rotate rotates the live log at path if it reached maxSize: reopen asks
// the runtime to write to a new file at path. If reopen fails the file is
// renamed back, so the container keeps logging where it did.
func Rotate(ctx context.Context, path string, maxSize int64, maxFiles int, now time.Time, reopen func(context.Context) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	rotated, err := filepath.Glob(path + ".*")
	if err != nil {
		return err
	}
	d := Decide(path, rotated, fi.Size(), maxSize, maxFiles, now)
	if d.RotateTo == "" {
		return nil
	}
	var errs []error
	for _, r := range d.Remove {
		if err := os.Remove(r); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, r := range d.Compress {
		if err := compress(r); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat(d.RotateTo); err == nil {
		// Rotated within the same second already: wait for the next.
		return errors.Join(errs...)
	}
	if err := os.Rename(path, d.RotateTo); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := reopen(ctx); err != nil {
		if rerr := os.Rename(d.RotateTo, path); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return errors.Join(append(errs, fmt.Errorf("reopen %s: %w", path, err))...)
	}
	return errors.Join(errs...)
}

// compress gzips name to name.gz through a temporary file and removes
// name.
func compress(name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + compressSuffix + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close(), out.Close())
	if err == nil {
		err = os.Rename(tmp, name+compressSuffix)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compress %s: %w", name, err)
	}
	return os.Remove(name)
}
