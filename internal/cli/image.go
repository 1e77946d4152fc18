package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"

	"peapod/internal/image"
)

func newImageCommand(g *globals, s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the local image store",
	}
	var insecure bool
	var downloads int
	pull := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image from a registry (auth from ~/.docker/config.json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := g.images()
			if err != nil {
				return err
			}
			if downloads < 1 {
				return fmt.Errorf("--max-concurrent-downloads %d: must be at least 1", downloads)
			}
			opts := image.PullOptions{Insecure: insecure, Downloads: downloads}
			if f, ok := s.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				opts.Progress = f
			}
			img, err := store.Pull(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(s.Out, img.ID)
			return err
		},
	}
	pull.Flags().BoolVar(&insecure, "insecure", false, "use plain HTTP (for a registry on loopback)")
	pull.Flags().IntVar(&downloads, "max-concurrent-downloads", image.MaxConcurrentDownloads, "layers fetched at once, as dockerd's flag")

	load := &cobra.Command{
		Use:   "load FILE|DIR",
		Short: "Load images from a docker-archive, an OCI archive or an OCI layout directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := g.images()
			if err != nil {
				return err
			}
			imgs, err := store.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, img := range imgs {
				fmt.Fprintf(s.Out, "Loaded image: %s %s\n", img.ID, strings.Join(img.Names, " "))
			}
			return nil
		},
	}

	tag := &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := g.images()
			if err != nil {
				return err
			}
			return store.Tag(cmd.Context(), args[0], args[1])
		},
	}

	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := g.images()
			if err != nil {
				return err
			}
			imgs, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 6, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tID\tCREATED\tSIZE")
			now := time.Now()
			for _, img := range imgs {
				names := img.Names
				if len(names) == 0 {
					names = []string{"<none>"}
				}
				created := "<unknown>"
				if !img.Created.IsZero() {
					created = duration.HumanDuration(now.Sub(img.Created)) + " ago"
				}
				size := resource.NewQuantity(img.Size, resource.BinarySI).String()
				for _, n := range names {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, shortID(img.ID), created, size)
				}
			}
			return tw.Flush()
		},
	}

	rm := &cobra.Command{
		Use:   "rm REF...",
		Short: "Remove image names; data no name uses any more is deleted",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := g.images()
			if err != nil {
				return err
			}
			for _, ref := range args {
				if err := store.Remove(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintf(s.Out, "Untagged: %s\n", ref)
			}
			return nil
		},
	}
	cmd.AddCommand(pull, load, tag, ls, rm)
	return cmd
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
