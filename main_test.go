//go:build cgo

package sqliteserial

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests, or the child side of a test that needs a process of its own,
// and fails the run when the tests left a goroutine or a physical connection behind.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if name := os.Getenv(faultChildEnv); name != "" {
		runFaultChild(name)
		return
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leak check: goroutines left behind:", err)
			code = 1
		}
		if n := openPhysical.Load(); n != 0 {
			fmt.Fprintf(os.Stderr, "leak check: %d physical connection(s) left open\n", n)
			code = 1
		}
	}
	os.Exit(code)
}
