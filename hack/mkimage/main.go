// Command mkimage writes a built-in image as an OCI layout directory, for
// "peapod image load DIR":
//
//	go run ./hack/mkimage -o DIR [-name REF] busybox
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"peapod/internal/image"
	"peapod/internal/image/busybox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "output directory (an OCI layout; replaced)")
	ref := flag.String("name", "docker.io/library/busybox:latest", "image name, written as the ref.name annotation")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkimage -o DIR [-name REF] busybox")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		return errors.New("need -o DIR and one image kind")
	}
	if flag.Arg(0) != "busybox" {
		return fmt.Errorf("unknown image %q (known: busybox)", flag.Arg(0))
	}
	norm, err := image.Normalize(*ref)
	if err != nil {
		return err
	}
	img, err := busybox.Build()
	if err != nil {
		return err
	}
	// A fresh layout, so a rerun does not pile up index entries.
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	p, err := layout.Write(*out, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": norm,
	})); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", *out, norm, id)
	return nil
}
