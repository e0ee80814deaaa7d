//go:build cgo

package sqliteserial

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// faultChildEnv names, in a child process, the fault scenario it runs; faultDirEnv its
// directory. A scenario runs in a process of its own because it changes what the process
// may do (a file size limit) or who it is (permissions do not bind root).
const (
	faultChildEnv = "SQLITE_SERIAL_FAULT_CHILD"
	faultDirEnv   = "SQLITE_SERIAL_FAULT_DIR"
)

var faultScenarios = map[string]func(dir string) error{
	"full-disk":      fullDiskScenario,
	"read-only-file": readOnlyFileScenario,
}

// runFaultChild runs a scenario and reports it: "ok" and exit 0, or the error and exit 1.
func runFaultChild(name string) {
	if err := faultScenarios[name](os.Getenv(faultDirEnv)); err != nil {
		fmt.Println("scenario failed:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
	os.Exit(0)
}

// runFault runs scenario in a child process, as an unprivileged user when the tests run as
// root (so that file permissions bind it), and returns what it printed.
func runFault(t *testing.T, scenario string) string {
	binary := os.Args[0]
	dir := t.TempDir()
	cmd := exec.Command(binary, "-test.run=^$")
	if os.Geteuid() == 0 {
		// The user must reach the directory and the test binary: both go to a directory
		// of their own that everyone may traverse.
		const nobody = 65534
		shared, err := os.MkdirTemp("", "sqlite-serial-fault")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(shared) })
		require.NoError(t, os.Chmod(shared, 0o755))
		dir = filepath.Join(shared, "db")
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, os.Chown(dir, nobody, nobody))
		binary = filepath.Join(shared, "test")
		require.NoError(t, copyFile(os.Args[0], binary))
		cmd = exec.Command(binary, "-test.run=^$")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	cmd.Env = append(os.Environ(), faultChildEnv+"="+scenario, faultDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// copyFile copies an executable.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// TestFullDisk fills the disk (a file size limit) under the driver: writes fail with
// SQLite's error, reads go on, nothing is corrupted, and writes work again once there is
// room.
func TestFullDisk(t *testing.T) {
	out := runFault(t, "full-disk")
	require.Contains(t, out, "write failed: sqlite3.Error")
	require.True(t, strings.HasSuffix(strings.TrimSpace(out), "ok"), out)
}

// TestReadOnlyFile opens the driver on a database file the process may not write: writes
// fail with SQLite's read-only error, reads work, and once the file is writable again the
// same *sql.DB writes, without a restart.
func TestReadOnlyFile(t *testing.T) {
	out := runFault(t, "read-only-file")
	require.Contains(t, out, "write failed: sqlite3.Error(code=8")
	require.True(t, strings.HasSuffix(strings.TrimSpace(out), "ok"), out)
}

// faultTable creates table t and fills it with n rows of 16 KiB.
func faultTable(db *sql.DB, n int) error {
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB)"); err != nil {
		return err
	}
	for range n {
		if _, err := db.Exec("INSERT INTO t(b) VALUES (randomblob(16384))"); err != nil {
			return err
		}
	}
	return nil
}

// faultCheck checks that the database is intact and has want rows.
func faultCheck(db *sql.DB, want int) error {
	var check string
	var n int
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil {
		return err
	}
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		return err
	}
	if check != "ok" || n != want {
		return fmt.Errorf("integrity %q, %d rows, want ok and %d", check, n, want)
	}
	return nil
}

// describeSQLiteError writes err with its SQLite codes.
func describeSQLiteError(err error) string {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("sqlite3.Error(code=%d extended=%d %q)", e.Code, e.ExtendedCode, e.Error())
	}
	return fmt.Sprintf("%T(%v)", err, err)
}

func fullDiskScenario(dir string) error {
	path := filepath.Join(dir, "full.db")
	db, err := sql.Open(DriverName, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := faultTable(db, 20); err != nil {
		return err
	}
	var largest int64
	for _, f := range []string{path, path + "-wal"} {
		if info, err := os.Stat(f); err == nil {
			largest = max(largest, info.Size())
		}
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	limit := syscall.Rlimit{Cur: uint64(largest) + 256<<10, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		return err
	}
	written := 20
	var failure error
	for range 1000 {
		if _, failure = db.Exec("INSERT INTO t(b) VALUES (randomblob(16384))"); failure != nil {
			break
		}
		written++
	}
	if failure == nil {
		return errors.New("the file size limit never stopped a write")
	}
	var e sqlite3.Error
	if !errors.As(failure, &e) {
		return fmt.Errorf("the write failed with %T, not mattn's sqlite3.Error: %v", failure, failure)
	}
	fmt.Println("write failed:", describeSQLiteError(failure))
	if err := faultCheck(db, written); err != nil {
		return fmt.Errorf("while the disk is full: %w", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	if err := faultTable(db, 10); err != nil {
		return fmt.Errorf("once there is room again: %w", err)
	}
	if err := faultCheck(db, written+10); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	again, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer again.Close()
	return faultCheck(again, written+10)
}

func readOnlyFileScenario(dir string) error {
	path := filepath.Join(dir, "ro.db")
	setup, err := sql.Open(DriverName, path)
	if err != nil {
		return err
	}
	if err := faultTable(setup, 5); err != nil {
		return err
	}
	if err := setup.Close(); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o444); err != nil {
		return err
	}

	db, err := sql.Open(DriverName, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := faultCheck(db, 5); err != nil {
		return fmt.Errorf("reading a read-only file: %w", err)
	}
	_, failure := db.Exec("INSERT INTO t(b) VALUES (x'00')")
	if failure == nil {
		return errors.New("a write to a read-only file succeeded")
	}
	fmt.Println("write failed:", describeSQLiteError(failure))

	if err := os.Chmod(path, 0o644); err != nil {
		return err
	}
	if err := faultTable(db, 3); err != nil {
		return fmt.Errorf("once the file is writable again: %w", err)
	}
	return faultCheck(db, 8)
}
