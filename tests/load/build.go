package load

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RunWithSigil is the body of a TestMain that needs the real binary: it
// builds cmd/sigil (with the race detector when race is set) into a fresh
// temporary directory whose name starts with prefix, stores the binary's
// path in *bin, calls run (the tests' m.Run), removes the directory and
// exits with run's code. A failed build exits 1 without running anything.
func RunWithSigil(prefix string, race bool, bin *string, run func() int) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "sigil")
	args := []string{"build", "-o", *bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sigilauth/sigil/cmd/sigil")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sigil:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := run()
	os.RemoveAll(dir)
	os.Exit(code)
}
