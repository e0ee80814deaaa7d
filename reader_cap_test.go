//go:build cgo

package sqliteserial

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// TestOverflowStaysWithinTheOpenFilesLimit: at a low open-files limit, readers opened beyond
// _serial_readers_max after a wait stay within what the process can hold files for.
func TestOverflowStaysWithinTheOpenFilesLimit(t *testing.T) {
	var was syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was))
	lowered := was
	lowered.Cur = 256
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered))
	defer func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &was)) }()

	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "burst.db"),
		Driver: driverWithFunc("sleepms", func(ms int64) int64 { time.Sleep(time.Duration(ms) * time.Millisecond); return ms })})
	t.Logf("ReadersMax %d", cn.cfg.ReadersMax)
	if testing.Short() {
		cn.readers.overflowAfter = time.Hour
	}
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)")
	var g errgroup.Group
	for range 400 {
		g.Go(func() error {
			var n int64
			return db.QueryRow("SELECT sleepms(300) FROM t").Scan(&n)
		})
	}
	err := g.Wait()
	t.Logf("err %v; stats open max %+v", err, cn.Stats().ReadersOverflowed)
	require.NoError(t, err)
}
