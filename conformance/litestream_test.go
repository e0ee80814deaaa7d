package conformance

import (
	"bufio"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// The Litestream test runs the real Litestream (the tool of this module, built from the
// module proxy at the version go.mod pins) beside an application that writes through
// sqlite-serial, in a process of its own so that it can be killed.

// litestreamAppEnv makes the test binary run litestreamApp instead of the tests.
const litestreamAppEnv = "SQLITE_SERIAL_LITESTREAM_APP"

func init() {
	if os.Getenv(litestreamAppEnv) != "" {
		os.Exit(litestreamApp(os.Args[len(os.Args)-1]))
	}
}

// litestreamWriters and litestreamReaders are the application's goroutines.
const (
	litestreamWriters = 8
	litestreamReaders = 2
)

// litestreamApp writes rows (writer, seq) from litestreamWriters goroutines, autocommit
// inserts and small transactions in turn, while litestreamReaders goroutines read, for
// the duration in SQLITE_SERIAL_LITESTREAM_FOR, or until it is killed. With
// SQLITE_SERIAL_LITESTREAM_ACKS set it prints "ack <writer> <seq>" once the write of seq
// returned, so the test knows what was acknowledged when it killed the process. At the end
// it prints "writes <n>", the writes per second, and how long db.Close took.
func litestreamApp(dsn string) int {
	dur, err := time.ParseDuration(os.Getenv("SQLITE_SERIAL_LITESTREAM_FOR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "duration:", err)
		return 2
	}
	acks := os.Getenv("SQLITE_SERIAL_LITESTREAM_ACKS") != ""
	db, err := sql.Open("sqlite-serial", dsn)
	if err == nil {
		_, err = db.Exec("CREATE TABLE IF NOT EXISTS w(writer INTEGER, seq INTEGER, v BLOB, PRIMARY KEY (writer, seq))")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	ack := func(w, seq int) {
		outMu.Lock()
		fmt.Fprintf(out, "ack %d %d\n", w, seq)
		out.Flush()
		outMu.Unlock()
	}
	deadline := time.Now().Add(dur)
	var writes atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for w := range litestreamWriters {
		wg.Go(func() {
			for seq := 1; time.Now().Before(deadline); {
				var err error
				if seq%4 == 0 {
					err = insertInTx(db, w, seq, 5)
					if err == nil {
						seq += 5
					}
				} else {
					_, err = db.Exec("INSERT INTO w VALUES (?, ?, randomblob(100))", w, seq)
					if err == nil {
						seq++
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
				writes.Add(1)
				if acks {
					ack(w, seq-1)
				}
			}
		})
	}
	for range litestreamReaders {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				var n int64
				if err := db.QueryRow("SELECT count(*) FROM w WHERE writer = ?", rand.IntN(litestreamWriters)).Scan(&n); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "write or read:", err)
		return 1
	}
	st, err := sqliteserial.StatsOf(db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stats:", err)
		return 1
	}
	start := time.Now()
	err = db.Close()
	closed := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 1
	}
	outMu.Lock()
	fmt.Fprintf(out, "writes %d %.0f %d\n", writes.Load(), float64(writes.Load())/dur.Seconds(), closed.Microseconds())
	fmt.Fprintf(out, "checkpoints %d %d %d\n", st.Checkpoints, st.CheckpointsIncomplete, st.CheckpointsBlocked)
	out.Flush()
	outMu.Unlock()
	return 0
}

// insertInTx inserts rows seq to seq+n-1 of writer w in one transaction.
func insertInTx(db *sql.DB, w, seq, n int) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for i := range n {
		if _, err := tx.Exec("INSERT INTO w VALUES (?, ?, randomblob(100))", w, seq+i); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// litestreamBinary builds Litestream once per test binary.
var litestreamBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sqlite-serial-litestream")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "litestream")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/benbjohnson/litestream/cmd/litestream")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building Litestream: %v\n%s", err, out)
	}
	return bin, nil
})

// litestreamRun is one Litestream replicating one database to a file replica.
type litestreamRun struct {
	bin, config, db, replica string
	cmd                      *exec.Cmd
	log                      *strings.Builder
}

// startLitestream starts `litestream replicate` for the database at db, with a file replica
// in dir: at Litestream's default intervals, or, when fast is set, watching the WAL and
// syncing it every 100ms.
func startLitestream(t *testing.T, bin, dir, db string, fast bool) *litestreamRun {
	t.Helper()
	r := &litestreamRun{bin: bin, config: filepath.Join(dir, "litestream.yml"), db: db, replica: filepath.Join(dir, "replica"), log: &strings.Builder{}}
	config := fmt.Sprintf("dbs:\n  - path: %s\n    replica:\n      type: file\n      path: %s\n", db, r.replica)
	if fast {
		config = fmt.Sprintf("dbs:\n  - path: %s\n    monitor-interval: 100ms\n    replica:\n      type: file\n      path: %s\n      sync-interval: 100ms\n", db, r.replica)
	}
	require.NoError(t, os.WriteFile(r.config, []byte(config), 0o644))
	r.cmd = exec.Command(bin, "replicate", "-config", r.config)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// stop stops Litestream as an operator would (SIGTERM), which syncs what it has not yet.
func (r *litestreamRun) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	err := r.cmd.Wait()
	require.NoError(t, err, "litestream replicate:\n%s", r.log)
}

// restore restores the replica into a new file and returns its path.
func (r *litestreamRun) restore(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "restored.db")
	b, err := exec.Command(r.bin, "restore", "-config", r.config, "-o", out, r.db).CombinedOutput()
	require.NoError(t, err, "litestream restore:\n%s\nlitestream replicate:\n%s", b, r.log)
	return out
}

// appResult is what one run of the application reported.
type appResult struct {
	writes      int64
	perSecond   float64
	close       time.Duration
	acked       map[int]int // the last seq acknowledged, by writer
	checkpoints string      // the driver's checkpoints: run, incomplete, blocked
	killed      bool
	stderr      string
	exitedClean bool
}

// runApp runs the application on dsn for dur; with killAfter > 0 it kills it (SIGKILL) that
// long after it started.
func runApp(t *testing.T, dsn string, dur, killAfter time.Duration, acks bool) appResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", dsn)
	cmd.Env = append(os.Environ(), litestreamAppEnv+"=1", "SQLITE_SERIAL_LITESTREAM_FOR="+dur.String())
	if acks {
		cmd.Env = append(cmd.Env, "SQLITE_SERIAL_LITESTREAM_ACKS=1")
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	res := appResult{acked: map[int]int{}}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "ack":
			w, _ := strconv.Atoi(f[1])
			seq, _ := strconv.Atoi(f[2])
			res.acked[w] = max(res.acked[w], seq)
		case len(f) == 4 && f[0] == "checkpoints":
			res.checkpoints = strings.Join(f[1:], " ")
		case len(f) == 4 && f[0] == "writes":
			res.writes, _ = strconv.ParseInt(f[1], 10, 64)
			res.perSecond, _ = strconv.ParseFloat(f[2], 64)
			us, _ := strconv.ParseInt(f[3], 10, 64)
			res.close = time.Duration(us) * time.Microsecond
		}
	}
	err = cmd.Wait()
	res.stderr = stderr.String()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		res.killed = true
	} else {
		require.NoError(t, err, "the application failed:\n%s", res.stderr)
		res.exitedClean = true
	}
	return res
}

// rowsOf returns every (writer, seq) of the database at path, checking its integrity.
func rowsOf(t *testing.T, path string) map[[2]int]bool {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer db.Close()
	var check string
	require.NoError(t, db.QueryRow("PRAGMA integrity_check").Scan(&check))
	require.Equal(t, "ok", check, path)
	rows, err := db.Query("SELECT writer, seq FROM w")
	require.NoError(t, err)
	defer rows.Close()
	got := map[[2]int]bool{}
	for rows.Next() {
		var k [2]int
		require.NoError(t, rows.Scan(&k[0], &k[1]))
		got[k] = true
	}
	require.NoError(t, rows.Err())
	return got
}

// TestLitestream replicates a database that sqlite-serial writes from 8 goroutines (with 2
// readers) with Litestream to a file replica, in the driver's default mode and with
// _serial_checkpoint=external. In some rounds the application is killed (SIGKILL) at a
// random moment. Litestream is then stopped (it syncs what is left of the WAL), the
// replica restored, and the restore must pass integrity_check, hold every write
// acknowledged, and equal the source. It also measures the writes per second with and
// without Litestream, in both modes, in turns, and logs their ratios and Close's time.
func TestLitestream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Litestream")
	}
	bin, err := litestreamBinary()
	require.NoError(t, err)
	modes := []struct{ name, query string }{
		{"default", "_busy_timeout=5000"},
		// The driver's own checkpoints, due every megabyte, meet Litestream's read.
		{"default-1MiB", "_busy_timeout=5000&_serial_wal_limit=1M"},
		{"external", "_busy_timeout=5000&_serial_checkpoint=external&_serial_write_wait=30s"},
	}
	rounds := []struct {
		kill bool
	}{{kill: true}, {kill: false}, {kill: true}}

	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			for i, round := range rounds {
				dir := t.TempDir()
				path := filepath.Join(dir, "app.db")
				ls := startLitestream(t, bin, dir, path, true)
				var killAfter time.Duration
				if round.kill {
					killAfter = time.Duration(300+rand.IntN(1200)) * time.Millisecond
				}
				res := runApp(t, path+"?"+mode.query, 2*time.Second, killAfter, true)
				// Litestream syncs every 100ms; give it a few rounds on the final WAL, then
				// stop it, which syncs the rest.
				time.Sleep(500 * time.Millisecond)
				ls.stop(t)
				restored := ls.restore(t, dir)

				source, replica := rowsOf(t, path), rowsOf(t, restored)
				acked := 0
				for w, last := range res.acked {
					for seq := 1; seq <= last; seq++ {
						require.True(t, replica[[2]int{w, seq}], "round %d: acknowledged write (%d, %d) is in the restore", i, w, seq)
						acked++
					}
				}
				require.Equal(t, source, replica, "round %d: the restore equals the source", i)
				t.Logf("round %d: killed %v; %d writes acknowledged, %d rows in the restore; Close %v; checkpoints (run, incomplete, blocked) %s; Litestream's checkpoint messages %d",
					i, res.killed, acked, len(replica), res.close, res.checkpoints, strings.Count(ls.log.String(), "checkpoint"))
				require.NotContains(t, ls.log.String(), "level=ERROR", "Litestream reported an error")
				if res.exitedClean {
					require.Less(t, res.close, time.Second, "Close does not wait for Litestream's reader")
					var run, incomplete, blocked int
					_, err := fmt.Sscan(res.checkpoints, &run, &incomplete, &blocked)
					require.NoError(t, err)
					require.LessOrEqual(t, incomplete, 10, "no storm of checkpoints that cannot finish")
				}
			}
		})
	}

	t.Run("throughput", func(t *testing.T) {
		// In turns: each mode without and with Litestream (at its default intervals), three
		// times.
		perSecond := map[string][]float64{}
		closes := map[string][]time.Duration{}
		for range 3 {
			for _, mode := range modes {
				for _, with := range []bool{false, true} {
					dir := t.TempDir()
					path := filepath.Join(dir, "app.db")
					var ls *litestreamRun
					if with {
						ls = startLitestream(t, bin, dir, path, false)
					}
					res := runApp(t, path+"?"+mode.query, 3*time.Second, 0, false)
					key := mode.name + map[bool]string{false: " alone", true: " under Litestream"}[with]
					perSecond[key] = append(perSecond[key], res.perSecond)
					closes[key] = append(closes[key], res.close)
					if ls != nil {
						ls.stop(t)
					}
				}
			}
		}
		for _, mode := range modes {
			alone, under := perSecond[mode.name+" alone"], perSecond[mode.name+" under Litestream"]
			var ratios []string
			for i := range alone {
				ratios = append(ratios, fmt.Sprintf("%.2f", under[i]/alone[i]))
			}
			t.Logf("%s: writes/s alone %.0f, under Litestream %.0f; ratios per turn %s; Close under Litestream %v",
				mode.name, alone, under, strings.Join(ratios, " "), closes[mode.name+" under Litestream"])
		}
	})
}
