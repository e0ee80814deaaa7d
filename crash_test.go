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
	"testing"

	"github.com/stretchr/testify/require"
)

var crashRounds = flag.Int("crash-rounds", 20, "rounds of TestCrashDurability")

const (
	crashChildEnv = "SQLITE_SERIAL_CRASH_CHILD" // the database directory, in the child
	crashRoundEnv = "SQLITE_SERIAL_CRASH_ROUND" // the round number, in the child
)

// crashChild is the child side of TestCrashDurability: it writes through the driver from 8
// goroutines forever, in autocommit inserts, transactions and INSERT ... RETURNING, and
// prints "ack <id>" for each row once the call that wrote it returned without error. Its
// parent kills it.
func crashChild(dir string) {
	round, _ := strconv.ParseInt(os.Getenv(crashRoundEnv), 10, 64)
	db, err := sql.Open(DriverName, filepath.Join(dir, "crash.db"))
	if err == nil {
		_, err = db.Exec("CREATE TABLE IF NOT EXISTS acked(id INTEGER PRIMARY KEY, payload BLOB)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	ack := func(ids ...int64) {
		var b strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&b, "ack %d\n", id)
		}
		out.Lock()
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
// intact and holds every row the child was told was written.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	acked := map[int64]bool{}
	for round := range *crashRounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round+1))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		lines := bufio.NewScanner(stdout)
		killAfter := 1 + rand.IntN(400)
		for n := 0; lines.Scan(); n++ {
			recordAck(t, acked, lines.Text())
			if n == killAfter {
				require.NoError(t, cmd.Process.Kill()) // SIGKILL
			}
		}
		require.Error(t, cmd.Wait(), "the child only ends by being killed; stderr: %s", stderr.String())
		require.Empty(t, stderr.String())

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
	t.Logf("%d rounds, %d acknowledged rows, all present", *crashRounds, len(acked))
}

func recordAck(t *testing.T, acked map[int64]bool, line string) {
	id, err := strconv.ParseInt(strings.TrimPrefix(line, "ack "), 10, 64)
	require.NoError(t, err, "child output %q", line)
	acked[id] = true
}
