//go:build cgo

package sqliteserial

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var crashRounds = flag.Int("crash-rounds", 20, "rounds of TestCrashDurability")

const (
	crashChildEnv = "SQLITE_SERIAL_CRASH_CHILD" // the database directory, in the child
	crashRoundEnv = "SQLITE_SERIAL_CRASH_ROUND" // the round number, in the child
	crashQueryEnv = "SQLITE_SERIAL_CRASH_QUERY" // the query of the child's DSN, if any
)

const (
	// crashKillRange is the range of the kill point: the child is killed once it has
	// acknowledged 1 to crashKillRange rows.
	crashKillRange = 3000
	// crashSmallWAL is the _serial_wal_limit of every other round, so small that the
	// driver checkpoints the WAL all the time and kills land during its checkpoints too.
	crashSmallWAL = "_serial_wal_limit=256K"
	// crashCheckpointBy is a number of acknowledged rows by which a child with
	// crashSmallWAL has certainly checkpointed: their payloads alone fill the WAL past
	// 256 KiB several times over.
	crashCheckpointBy = 1000
	// crashWatchdog bounds a round: a child that hangs before the kill point is killed
	// after it and the test fails. It only turns a hang into a failure.
	crashWatchdog = 30 * time.Second
)

// crashChild is the child side of TestCrashDurability: it writes through the driver from 8
// goroutines forever, in autocommit inserts, transactions and INSERT ... RETURNING, and
// prints "ack <id>" for each row once the call that wrote it returned without error, and
// "checkpoints <n>" once the driver has run n checkpoints of the WAL, and "batches <n>"
// once it has committed n group commits (its autocommit writes wait for each other: they
// form batches). Its parent kills it.
func crashChild(dir string) {
	round, _ := strconv.ParseInt(os.Getenv(crashRoundEnv), 10, 64)
	dsn := filepath.Join(dir, "crash.db")
	if q := os.Getenv(crashQueryEnv); q != "" {
		dsn += "?" + q
	}
	db, err := sql.Open(DriverName, dsn)
	if err == nil {
		_, err = db.Exec("CREATE TABLE IF NOT EXISTS acked(id INTEGER PRIMARY KEY, payload BLOB)")
	}
	var cn *Connector
	if err == nil {
		cn, err = connectorOf(db)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	var checkpoints uint64 // the count last printed, under out
	var batches uint64     // the count of group commits last printed, under out
	ack := func(ids ...int64) {
		var b strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&b, "ack %d\n", id)
		}
		out.Lock()
		s := cn.Stats()
		if s.Checkpoints > checkpoints {
			checkpoints = s.Checkpoints
			fmt.Fprintf(&b, "checkpoints %d\n", checkpoints)
		}
		if s.Batches > batches {
			batches = s.Batches
			fmt.Fprintf(&b, "batches %d\n", batches)
		}
		os.Stdout.WriteString(b.String()) // one write: a kill cannot cut a line
		out.Unlock()
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	for g := range int64(8) {
		go func() {
			for i := int64(0); ; i++ {
				id := round*100_000_000 + g*10_000_000 + i*4
				payload := make([]byte, rand.IntN(4096))
				switch i % 3 {
				case 0:
					if _, err := db.Exec("INSERT INTO acked VALUES (?, ?)", id, payload); err != nil {
						fail(err)
					}
					ack(id)
				case 1:
					tx, err := db.Begin()
					if err != nil {
						fail(err)
					}
					for k := range int64(3) {
						if _, err := tx.Exec("INSERT INTO acked VALUES (?, ?)", id+k, payload); err != nil {
							fail(err)
						}
					}
					if err := tx.Commit(); err != nil {
						fail(err)
					}
					ack(id, id+1, id+2)
				default:
					var back int64
					if err := db.QueryRow("INSERT INTO acked VALUES (?, ?) RETURNING id", id, payload).Scan(&back); err != nil {
						fail(err)
					}
					ack(back)
				}
			}
		}()
	}
	select {}
}

// TestCrashDurability kills a child process that writes through the driver with SIGKILL at
// a random moment, round after round on the same database, and checks that the database is
// intact and holds every row the child was told was written. Every other round the child
// runs with a WAL limit so small that the driver checkpoints all the time, so that kills
// land during its checkpoints too; a watchdog kills a child that hangs before the kill
// point and fails the test.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	acked := map[int64]bool{}
	var smallRounds, checkpointed, batched int
	for round := range *crashRounds {
		small := round%2 == 1
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round+1))
		if small {
			cmd.Env = append(cmd.Env, crashQueryEnv+"="+crashSmallWAL)
			smallRounds++
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // should the test fail before the kill
		var hung atomic.Bool
		watchdog := time.AfterFunc(crashWatchdog, func() {
			hung.Store(true)
			_ = cmd.Process.Kill()
		})

		lines := bufio.NewScanner(stdout)
		killAfter := 1 + rand.IntN(crashKillRange)
		killed := false
		var checkpoints int64 // the driver's checkpoints the child reported before its kill
		var batches bool      // whether it reported a group commit before its kill
		n := 0                // rows acknowledged
		for lines.Scan() {
			if _, ok := strings.CutPrefix(lines.Text(), "batches "); ok {
				batches = batches || !killed
				continue
			}
			if c, ok := strings.CutPrefix(lines.Text(), "checkpoints "); ok {
				if !killed {
					checkpoints, err = strconv.ParseInt(c, 10, 64)
					require.NoError(t, err, "child output %q", lines.Text())
				}
				continue
			}
			recordAck(t, acked, lines.Text())
			if n++; n == killAfter {
				require.NoError(t, cmd.Process.Kill()) // SIGKILL
				killed = true
			}
		}
		watchdog.Stop()
		waitErr := cmd.Wait()
		require.False(t, hung.Load(), "round %d: the child hung after %d acknowledged rows, before its kill point at %d; killed after %v; stderr: %s",
			round, n, killAfter, crashWatchdog, stderr.String())
		require.True(t, killed, "round %d: the child ended before its kill point (%v); stderr: %s", round, waitErr, stderr.String())
		require.Error(t, waitErr, "the child only ends by being killed; stderr: %s", stderr.String())
		require.Empty(t, stderr.String())
		if small && killAfter >= crashCheckpointBy {
			require.Positive(t, checkpoints, "round %d: the child with %s acknowledged %d rows and never checkpointed", round, crashSmallWAL, killAfter)
		}
		if checkpoints > 0 {
			checkpointed++
		}
		if batches {
			batched++
		}

		db, err := sql.Open(DriverName, filepath.Join(dir, "crash.db"))
		require.NoError(t, err)
		var check string
		require.NoError(t, db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check))
		require.Equal(t, "ok", check, "round %d", round)
		present := idSet(t, db, "SELECT id FROM acked")
		for id := range acked {
			require.True(t, present[id], "round %d: row %d was acknowledged and is missing", round, id)
		}
		require.NoError(t, db.Close())
	}
	require.NotEmpty(t, acked)
	require.Positive(t, batched, "no child committed a batch of writes before its kill")
	t.Logf("%d rounds (%d with %s, %d killed after a checkpoint, %d after group commits), %d acknowledged rows, all present",
		*crashRounds, smallRounds, crashSmallWAL, checkpointed, batched, len(acked))
}

func recordAck(t *testing.T, acked map[int64]bool, line string) {
	id, err := strconv.ParseInt(strings.TrimPrefix(line, "ack "), 10, 64)
	require.NoError(t, err, "child output %q", line)
	acked[id] = true
}
