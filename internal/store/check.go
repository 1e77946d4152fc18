package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// errDamaged is what a store that cannot be read gives at open.
var errDamaged = errors.New("the store is damaged")

// damaged is the error for the store at path that failed to open or check:
// it names the file and what to do, and serve does not start on it.
func damaged(path string, cause any) error {
	return fmt.Errorf("%w: %s: %v; peapod does not start on a store it cannot read: move the file aside to start with an empty one, or put a backup in its place", errDamaged, path, cause)
}

// openChecked opens the bbolt file at path and checks every page of it
// (bbolt's consistency check). bbolt panics on a torn or overwritten page
// when it meets one, which here would be at some later read; a damaged
// file is an error at open instead.
func openChecked(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, damaged(path, r)
		}
	}()
	if err := checkSize(path); err != nil {
		return nil, damaged(path, err)
	}
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, damaged(path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		db.Close()
		return nil, damaged(path, err)
	}
	return db, nil
}

// checkSize compares the file's size with the pages its newest valid meta
// page says it has: bbolt maps the file and would touch pages past a
// truncated end, a fault no recover catches. A missing or empty file, or
// one without a valid meta page, is left to bbolt.
func checkSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	var best *boltMeta
	for _, off := range []int64{0, int64(os.Getpagesize())} {
		m := readMeta(f, off)
		if m != nil && off != 0 && off != int64(m.pageSize) {
			m = nil // the second meta page sits one page in
		}
		if m != nil && (best == nil || m.txid > best.txid) {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	if need := int64(best.pgid) * int64(best.pageSize); fi.Size() < need {
		return fmt.Errorf("the file is %d bytes, its pages take %d: cut short", fi.Size(), need)
	}
	return nil
}

// boltMeta is what checkSize reads of a bbolt meta page.
type boltMeta struct {
	pageSize   uint32
	pgid, txid uint64
}

// readMeta reads the meta page at off (bbolt's layout: a 16-byte page
// header, then magic, version, page size, flags, root bucket, freelist,
// high-water page id, txid and an FNV-64a checksum of what precedes it),
// or nil if it is not a valid one.
func readMeta(f *os.File, off int64) *boltMeta {
	const header, size = 16, 64
	b := make([]byte, header+size)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil
	}
	m := b[header:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != 0xED0CDAED || le.Uint32(m[4:]) != 2 {
		return nil
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return nil
	}
	return &boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
}
