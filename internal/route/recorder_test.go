//go:build cgo

package route

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecorderReportsWhatAGoAuthorizerSees prepares every statement of the corpus twice:
// through the recorder, and on a plain connection with a Go authorizer (mattn's
// RegisterAuthorizer) that hands each event to Observe. What each saw must be the same:
// the reads the C authorizer leaves out tell Observe nothing.
func TestRecorderReportsWhatAGoAuthorizerSees(t *testing.T) {
	j, oracle := corpusJudge(t)
	compared := 0
	for _, e := range loadCorpus(t) {
		for _, st := range Split(e.sql) {
			s, recorded, err := j.rec.Prepare(j.conn, st)
			seen := &Events{sql: st.SQL}
			oracle.RegisterAuthorizer(seen.Observe)
			plain, oerr := oracle.PrepareContext(context.Background(), st.SQL)
			oracle.RegisterAuthorizer(nil)
			require.Equal(t, oerr == nil, err == nil, "routes.tsv:%d: %q prepares on one connection only: %v, %v", e.line, st.SQL, err, oerr)
			if err != nil {
				continue
			}
			s.Close()
			plain.Close()
			require.Equal(t, seen, recorded, "routes.tsv:%d: %q", e.line, st.SQL)
			compared++
		}
	}
	require.Greater(t, compared, 300)
}

// TestRecorderLogGrows judges a statement whose events outgrow the recorder's first log:
// a read of a temp table of many columns, each read reported. It is judged as such
// (it pins the session to a connection of its own), not lost.
func TestRecorderLogGrows(t *testing.T) {
	j := newJudge(t, t.TempDir()+"/g.db")
	var cols []string
	for i := range 600 {
		cols = append(cols, fmt.Sprintf("column_with_a_long_name_%03d", i))
	}
	_, err := j.conn.Exec("CREATE TEMP TABLE wide("+strings.Join(cols, ", ")+")", nil)
	require.NoError(t, err)
	query := "SELECT " + strings.Join(cols, ", ") + " FROM wide"
	cls := j.of(t, query)
	require.True(t, cls.Known)
	require.True(t, cls.Pins, "a read of a temp table is the session's own")
	require.Equal(t, Writer, cls.Route)
	require.Greater(t, int(j.rec.log.cap), recorderLogSize, "the log grew")

	// The recorder, idle, leaves the connection's statements alone.
	rows, err := j.conn.Query(query, nil)
	require.NoError(t, err)
	require.NoError(t, rows.Close())
}
