package debian

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// triplets are Debian's multiarch directory names by ELF machine.
var triplets = map[elf.Machine]string{
	elf.EM_X86_64:  "x86_64-linux-gnu",
	elf.EM_AARCH64: "aarch64-linux-gnu",
	elf.EM_386:     "i386-linux-gnu",
	elf.EM_ARM:     "arm-linux-gnueabihf",
	elf.EM_PPC64:   "powerpc64le-linux-gnu",
	elf.EM_S390:    "s390x-linux-gnu",
	elf.EM_RISCV:   "riscv64-linux-gnu",
}

// libDirs are the directories the dynamic loader searches by default (and
// ld.so.conf adds on Debian), in its order.
func libDirs(m elf.Machine) []string {
	var dirs []string
	if t, ok := triplets[m]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// elfDeps reads what the ELF file at host (inside root) needs: its program
// interpreter and its DT_NEEDED libraries with its RUNPATH/RPATH dirs. A
// file that is not ELF needs nothing.
type elfDeps struct {
	class   elf.Class
	machine elf.Machine
	interp  string
	needed  []string
	dirs    []string
}

func readDeps(root, host string) (*elfDeps, error) {
	r, err := os.Open(filepath.Join(root, host))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	magic := make([]byte, len(elf.ELFMAG))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != elf.ELFMAG {
		return nil, nil // not ELF
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	d := &elfDeps{class: f.Class, machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("%s: PT_INTERP: %w", host, err)
			}
			d.interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if d.needed, err = f.ImportedLibraries(); err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, dir := range strings.Split(v, ":") {
				dir = strings.ReplaceAll(strings.ReplaceAll(dir, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", path.Dir(host))
				if path.IsAbs(dir) {
					d.dirs = append(d.dirs, dir)
				}
			}
		}
	}
	return d, nil
}

// addLibraries adds the interpreter and the shared libraries of every ELF
// file in the layer, and theirs in turn, as the loader would find them.
func (l *layer) addLibraries() error {
	found := map[string]bool{} // library paths already added
	for i := 0; i < len(l.elfs); i++ {
		host := l.elfs[i]
		d, err := readDeps(l.root, host)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		if d.interp != "" && !found[d.interp] {
			found[d.interp] = true
			if err := l.add(d.interp, 0); err != nil {
				return fmt.Errorf("%s: interpreter: %w", host, err)
			}
		}
		for _, name := range d.needed {
			p, err := l.findLibrary(name, d)
			if err != nil {
				return fmt.Errorf("%s: %w", host, err)
			}
			if found[p] {
				continue
			}
			found[p] = true
			if err := l.add(p, 0); err != nil {
				return fmt.Errorf("%s: %s: %w", host, name, err)
			}
		}
	}
	return nil
}

// findLibrary returns the path the loader would load for name: the first
// file in the search dirs that is an ELF object of the same class and
// machine.
func (l *layer) findLibrary(name string, d *elfDeps) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range append(append([]string{}, d.dirs...), libDirs(d.machine)...) {
		p := path.Join(dir, name)
		real, err := l.resolve(p, 0)
		if err != nil {
			continue
		}
		f, err := elf.Open(filepath.Join(l.root, real))
		if err != nil {
			continue
		}
		ok := f.Class == d.class && f.Machine == d.machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s not found in %v", name, libDirs(d.machine))
}
