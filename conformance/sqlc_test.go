package conformance

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// What sqlc generates for SQLite, written out by hand: a DBTX that *sql.DB and *sql.Tx both
// satisfy, queries run through it, INSERT ... RETURNING read with QueryRowContext.

type DBTX interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

type Queries struct{ db DBTX }

func New(db DBTX) *Queries { return &Queries{db: db} }

func (q *Queries) WithTx(tx *sql.Tx) *Queries { return &Queries{db: tx} }

type Author struct {
	ID   int64
	Name string
	Bio  sql.NullString
}

const createAuthor = `-- name: CreateAuthor :one
INSERT INTO authors (name, bio) VALUES (?, ?)
RETURNING id, name, bio
`

func (q *Queries) CreateAuthor(ctx context.Context, name string, bio sql.NullString) (Author, error) {
	row := q.db.QueryRowContext(ctx, createAuthor, name, bio)
	var i Author
	err := row.Scan(&i.ID, &i.Name, &i.Bio)
	return i, err
}

const listAuthors = `-- name: ListAuthors :many
SELECT id, name, bio FROM authors ORDER BY name
`

func (q *Queries) ListAuthors(ctx context.Context) ([]Author, error) {
	rows, err := q.db.QueryContext(ctx, listAuthors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []Author
	for rows.Next() {
		var i Author
		if err := rows.Scan(&i.ID, &i.Name, &i.Bio); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	return items, rows.Err()
}

const deleteAuthor = `-- name: DeleteAuthor :exec
DELETE FROM authors WHERE id = ?
`

func (q *Queries) DeleteAuthor(ctx context.Context, id int64) error {
	_, err := q.db.ExecContext(ctx, deleteAuthor, id)
	return err
}

// TestSQLCStyleQueries runs sqlc-style generated code through the driver: the INSERT ...
// RETURNING, which sqlc sends through QueryRowContext, must write.
func TestSQLCStyleQueries(t *testing.T) {
	ctx := context.Background()

	path := filepath.Join(t.TempDir(), "sqlc.db")

	db, err := sql.Open("sqlite-serial", path)
	require.NoError(t, err)
	defer db.Close()
	queries := New(db)

	_, err = db.ExecContext(ctx, "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT)")
	require.NoError(t, err)
	ada, err := queries.CreateAuthor(ctx, "Ada", sql.NullString{String: "engines", Valid: true})
	require.NoError(t, err)
	require.EqualValues(t, 1, ada.ID)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = queries.WithTx(tx).CreateAuthor(ctx, "Alan", sql.NullString{})
	require.NoError(t, err)
	require.NoError(t, queries.WithTx(tx).DeleteAuthor(ctx, ada.ID))
	require.NoError(t, tx.Commit())

	authors, err := queries.ListAuthors(ctx)
	require.NoError(t, err)
	require.Equal(t, []Author{{ID: 2, Name: "Alan"}}, authors)
}
