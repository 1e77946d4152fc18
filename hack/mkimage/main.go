// Command mkimage writes a built-in image as an OCI layout directory, for
// "peapod image load DIR":
//
//	go run ./hack/mkimage -o DIR [-name REF] busybox|nginx|exporter
//
// busybox is Debian's busybox-static; nginx and exporter (the official
// images' nginx and nginx/nginx-prometheus-exporter:0.9.0) are Debian's
// packages on top of it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"peapod/internal/image"
	"peapod/internal/image/busybox"
	"peapod/internal/image/debian"
)

// kinds are the images mkimage builds, with their default names.
var kinds = map[string]struct {
	name  string
	build func() (v1.Image, error)
}{
	"busybox":  {"docker.io/library/busybox:latest", busybox.Build},
	"nginx":    {"docker.io/library/nginx:latest", onBusybox(debian.Nginx)},
	"exporter": {"docker.io/nginx/nginx-prometheus-exporter:0.9.0", onBusybox(debian.NginxPrometheusExporter)},
}

func onBusybox(spec debian.Spec) func() (v1.Image, error) {
	return func() (v1.Image, error) {
		base, err := busybox.Build()
		if err != nil {
			return nil, err
		}
		return debian.Build(base, debian.Host, spec)
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "output directory (an OCI layout; replaced)")
	ref := flag.String("name", "", "image name, written as the ref.name annotation (default: the kind's)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkimage -o DIR [-name REF] busybox|nginx|exporter")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		return errors.New("need -o DIR and one image kind")
	}
	kind, ok := kinds[flag.Arg(0)]
	if !ok {
		return fmt.Errorf("unknown image %q (known: busybox, nginx, exporter)", flag.Arg(0))
	}
	if *ref == "" {
		*ref = kind.name
	}
	norm, err := image.Normalize(*ref)
	if err != nil {
		return err
	}
	img, err := kind.build()
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
