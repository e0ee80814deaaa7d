package conformance

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// person is the sqlx tests' row type.
type person struct {
	ID    int64  `db:"id"`
	Name  string `db:"name"`
	Email string `db:"email"`
	Age   int    `db:"age"`
}

const sqlxSchema = `
CREATE TABLE person (
	id    INTEGER PRIMARY KEY,
	name  TEXT NOT NULL UNIQUE,
	email TEXT NOT NULL,
	age   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX person_age ON person(age);
`

// TestSQLX runs sqlx's common calls through the driver.
func TestSQLX(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sqlx.db")

	db := sqlx.MustConnect("sqlite-serial", path)
	defer db.Close()
	db.MustExec(sqlxSchema)

	_, err := db.NamedExec(`INSERT INTO person (name, email, age) VALUES (:name, :email, :age)`,
		[]person{{Name: "ada", Email: "ada@example.com", Age: 36}, {Name: "alan", Email: "alan@example.com", Age: 41}})
	require.NoError(t, err)
	_, err = db.NamedExec(`INSERT INTO person (name, email, age) VALUES (:name, :email, :age)`,
		person{Name: "grace", Email: "grace@example.com", Age: 85})
	require.NoError(t, err)

	var ada person
	require.NoError(t, db.Get(&ada, "SELECT * FROM person WHERE name = ?", "ada"))
	require.Equal(t, person{ID: 1, Name: "ada", Email: "ada@example.com", Age: 36}, ada)

	var people []person
	require.NoError(t, db.Select(&people, "SELECT * FROM person WHERE age > ? ORDER BY age", 40))
	require.Len(t, people, 2)
	require.Equal(t, "grace", people[1].Name)

	query, args, err := sqlx.In("SELECT * FROM person WHERE name IN (?) ORDER BY id", []string{"ada", "grace"})
	require.NoError(t, err)
	people = nil
	require.NoError(t, db.Select(&people, db.Rebind(query), args...))
	require.Len(t, people, 2)

	tx := db.MustBegin()
	tx.MustExec("UPDATE person SET age = age + 1 WHERE name = ?", "ada")
	require.NoError(t, tx.Get(&ada, "SELECT * FROM person WHERE name = ?", "ada"))
	require.Equal(t, 37, ada.Age, "the transaction reads its own write")
	require.NoError(t, tx.Commit())

	tx, err = db.Beginx()
	require.NoError(t, err)
	tx.MustExec("DELETE FROM person")
	require.NoError(t, tx.Rollback())
	var n int
	require.NoError(t, db.Get(&n, "SELECT count(*) FROM person"))
	require.Equal(t, 3, n)

	rows, err := db.NamedQuery("SELECT * FROM person WHERE age >= :age ORDER BY id", map[string]any{"age": 41})
	require.NoError(t, err)
	var names []string
	for rows.Next() {
		var p person
		require.NoError(t, rows.StructScan(&p))
		names = append(names, p.Name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"alan", "grace"}, names)
}

// TestSQLXConcurrent runs 32 goroutines mixing reads and writes through sqlx, with no error
// allowed.
func TestSQLXConcurrent(t *testing.T) {
	db := sqlx.MustConnect("sqlite-serial", filepath.Join(t.TempDir(), "sqlx-concurrent.db"))
	defer db.Close()
	db.MustExec(sqlxSchema)
	var g errgroup.Group
	for w := range 32 {
		g.Go(func() error {
			for i := range 20 {
				p := person{Name: fmt.Sprintf("p%d-%d", w, i), Email: "x@example.com", Age: i}
				if _, err := db.NamedExec("INSERT INTO person (name, email, age) VALUES (:name, :email, :age)", p); err != nil {
					return err
				}
				var got person
				if err := db.Get(&got, "SELECT * FROM person WHERE name = ?", p.Name); err != nil {
					return err
				}
				tx, err := db.Beginx()
				if err != nil {
					return err
				}
				var n int
				if err := tx.Get(&n, "SELECT count(*) FROM person WHERE age = ?", i); err != nil {
					tx.Rollback()
					return err
				}
				if _, err := tx.Exec("UPDATE person SET email = ? WHERE id = ?", fmt.Sprint(n), got.ID); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	var n int
	require.NoError(t, db.Get(&n, "SELECT count(*) FROM person"))
	require.Equal(t, 32*20, n)
}
