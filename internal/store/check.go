package store

import (
	"errors"
	"fmt"

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
