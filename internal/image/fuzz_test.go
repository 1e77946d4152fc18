package image

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// unpackSeeds are crafted layers, benign and hostile; the committed corpus
// in testdata/fuzz/FuzzUnpack holds the same and more.
func unpackSeeds(t testing.TB) [][]byte {
	dev := entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	x := fileE("x", "x")
	x.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.a": "b", "SCHILY.xattr.trusted.overlay.opaque": "y"}
	return [][]byte{
		tarOf(t, dirE("./"), dirE("etc/"), fileE("etc/passwd", "root:x:0:0::/:/bin/sh\n"), symlinkE("bin", "usr/bin"), linkE("etc/p2", "etc/passwd")),
		tarOf(t, fileE("etc/.wh.gone", ""), fileE("d/.wh..wh..opq", ""), dev, x),
		tarOf(t, fileE("../../etc/passwd", "x")),
		tarOf(t, symlinkE("a", "/"), fileE("a/etc/x", "x")),
		tarOf(t, symlinkE("a", "../.."), fileE("a/etc/x", "x")),
		tarOf(t, symlinkE("a", ".."), dirE("a/d"), linkE("l", "a/outside")),
		tarOf(t, linkE("l", "../outside")),
		tarOf(t, fileE("f", "x"), symlinkE("f", ".."), fileE("f/outside", "y")),
	}
}

func FuzzUnpack(f *testing.F) {
	for _, s := range unpackSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A few header bytes can declare a terabyte sparse file; that is a
		// disk-filling test, not an escape.
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			if hdr.Size > 1<<20 {
				t.Skip("entry too large for fuzzing")
			}
		}
		parent, layer := sandbox(t)
		_ = Unpack(bytes.NewReader(data), layer) // errors are fine; escapes are not
		assertConfined(t, parent)
	})
}

// FuzzUnpackEntries fuzzes the entries rather than the tar bytes: random
// bytes rarely pass tar's header checksum, so FuzzUnpack alone seldom gets
// past parsing. Each line of script is an entry: a type letter (d dir, f
// file, s symlink, h hard link, p fifo, c char device), a name, and after
// "|" the link target or the file content.
func FuzzUnpackEntries(f *testing.F) {
	for _, s := range []string{
		"d etc\nf etc/passwd|root\ns bin|usr/bin\nh etc/p2|etc/passwd",
		"s a|/\nf a/etc/x|x",
		"s a|../..\nf a/etc/x|x",
		"s a|..\nd a/d\nh l|a/outside",
		"f f|x\ns f|..\nf f/outside|y",
		"f etc/.wh.gone|\nf d/.wh..wh..opq|\nc dev/null|",
		"h l|../outside",
		"d a\ns a/b|../../..\nf a/b/c|x",
		"f ../../x|y",
		"s l|l\nf l/x|y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		var entries []entry
		for _, line := range strings.Split(script, "\n") {
			if len(line) < 2 {
				continue
			}
			name, arg, _ := strings.Cut(line[2:], "|")
			h := tar.Header{Name: name, Mode: 0o755}
			switch line[0] {
			case 'd':
				h.Typeflag = tar.TypeDir
			case 'f':
				h.Typeflag = tar.TypeReg
			case 's':
				h.Typeflag, h.Linkname, arg = tar.TypeSymlink, arg, ""
			case 'h':
				h.Typeflag, h.Linkname, arg = tar.TypeLink, arg, ""
			case 'p':
				h.Typeflag, arg = tar.TypeFifo, ""
			case 'c':
				h.Typeflag, arg = tar.TypeChar, ""
			default:
				continue
			}
			entries = append(entries, entry{hdr: h, body: arg})
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			h := e.hdr
			h.Size = int64(len(e.body))
			if h.Typeflag != tar.TypeReg {
				h.Size = 0
			}
			if err := tw.WriteHeader(&h); err != nil {
				return // a name tar cannot hold
			}
			if h.Size > 0 {
				if _, err := tw.Write([]byte(e.body)); err != nil {
					return
				}
			}
		}
		if err := tw.Close(); err != nil {
			return
		}
		parent, layer := sandbox(t)
		_ = Unpack(&buf, layer)
		assertConfined(t, parent)
	})
}
