package conformance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The gorm tests' models: users with pets (has many), a profile (has one) and languages
// (many to many).
type User struct {
	ID        uint
	Name      string `gorm:"uniqueIndex"`
	Age       int
	Pets      []Pet
	Profile   Profile
	Languages []Language `gorm:"many2many:user_languages"`
}

type Pet struct {
	ID     uint
	UserID uint
	Name   string
}

type Profile struct {
	ID     uint
	UserID uint
	Bio    string
}

type Language struct {
	ID   uint
	Code string `gorm:"uniqueIndex"`
}

// openGorm opens a gorm database through the driver.
func openGorm(t *testing.T, path string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: "sqlite-serial", DSN: path}),
		&gorm.Config{TranslateError: true})
	require.NoError(t, err)
	db.Logger = logger.Discard
	sqlDB, err := db.DB()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sqlDB.Close()) })
	require.NoError(t, db.AutoMigrate(&User{}, &Pet{}, &Profile{}, &Language{}))
	return db
}

// TestGorm runs gorm's common calls through the driver.
func TestGorm(t *testing.T) {
	db := openGorm(t, filepath.Join(t.TempDir(), "gorm.db"))

	user := User{Name: "ada", Age: 36, Pets: []Pet{{Name: "rex"}, {Name: "tom"}}, Profile: Profile{Bio: "math"},
		Languages: []Language{{Code: "en"}, {Code: "fr"}}}
	require.NoError(t, db.Create(&user).Error)
	require.NotZero(t, user.ID, "Create read the id back (INSERT ... RETURNING through Query)")
	require.NotZero(t, user.Pets[1].ID)

	var found User
	require.NoError(t, db.Preload("Pets").Preload("Profile").Preload("Languages").First(&found, "name = ?", "ada").Error)
	require.Len(t, found.Pets, 2)
	require.Equal(t, "math", found.Profile.Bio)
	require.Len(t, found.Languages, 2)

	require.NoError(t, db.Model(&found).Updates(User{Age: 37}).Error)
	require.NoError(t, db.Model(&found).Association("Languages").Append(&Language{Code: "de"}))
	require.Equal(t, int64(3), db.Model(&found).Association("Languages").Count())

	var users []User
	require.NoError(t, db.Where("age > ?", 36).Find(&users).Error)
	require.Len(t, users, 1)
	require.Equal(t, 37, users[0].Age)

	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&User{Name: "alan", Age: 41}).Error; err != nil {
			return err
		}
		return tx.Create(&Pet{UserID: found.ID, Name: "felix"}).Error
	})
	require.NoError(t, err)
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&User{Name: "grace", Age: 85}).Error; err != nil {
			return err
		}
		return errors.New("changed my mind")
	})
	require.EqualError(t, err, "changed my mind")
	var count int64
	require.NoError(t, db.Model(&User{}).Count(&count).Error)
	require.Equal(t, int64(2), count, "the second transaction was rolled back")

	err = db.Create(&User{Name: "ada"}).Error
	require.ErrorIs(t, err, gorm.ErrDuplicatedKey, "TranslateError maps SQLite's UNIQUE violation")

	require.NoError(t, db.Delete(&Pet{}, "name = ?", "felix").Error)
	require.NoError(t, db.Model(&Pet{}).Count(&count).Error)
	require.Equal(t, int64(2), count)
}

// TestGormConcurrentCreates runs 32 goroutines creating rows through gorm, with no error
// allowed ("database is locked" above all).
func TestGormConcurrentCreates(t *testing.T) {
	db := openGorm(t, filepath.Join(t.TempDir(), "gorm-concurrent.db"))
	var g errgroup.Group
	for w := range 32 {
		g.Go(func() error {
			for i := range 10 {
				u := User{Name: fmt.Sprintf("u%d-%d", w, i), Age: i, Pets: []Pet{{Name: "p"}}}
				if err := db.Create(&u).Error; err != nil {
					return err
				}
				var back User
				if err := db.Preload("Pets").First(&back, u.ID).Error; err != nil {
					return err
				}
				if len(back.Pets) != 1 {
					return fmt.Errorf("user %d has %d pets", u.ID, len(back.Pets))
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	var count int64
	require.NoError(t, db.Model(&User{}).Count(&count).Error)
	require.Equal(t, int64(320), count)
}

// recordingPool is a gorm.ConnPool that records each statement sent through it, with the
// method that sent it.
type recordingPool struct {
	gorm.ConnPool
	calls *[]string
}

func (p recordingPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	*p.calls = append(*p.calls, "Prepare: "+query)
	return p.ConnPool.PrepareContext(ctx, query)
}

func (p recordingPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	*p.calls = append(*p.calls, "Exec: "+query)
	return p.ConnPool.ExecContext(ctx, query, args...)
}

func (p recordingPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	*p.calls = append(*p.calls, "Query: "+query)
	return p.ConnPool.QueryContext(ctx, query, args...)
}

func (p recordingPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	*p.calls = append(*p.calls, "QueryRow: "+query)
	return p.ConnPool.QueryRowContext(ctx, query, args...)
}

// TestGormCreateSendsReturningThroughQuery shows that gorm's Create, outside a transaction,
// sends INSERT ... RETURNING through QueryContext, that sqlite-serial routes that query
// straight to the writer (not to a reader that would refuse it), and that the row is
// stored: a separate plain mattn connection reads it back.
func TestGormCreateSendsReturningThroughQuery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gorm-returning.db")
	db := openGorm(t, path)
	var calls []string
	var kept gorm.ConnPool
	require.NoError(t, db.Callback().Create().Before("gorm:create").Register("conformance:record", func(tx *gorm.DB) {
		kept = tx.Statement.ConnPool
		tx.Statement.ConnPool = recordingPool{ConnPool: kept, calls: &calls}
	}))
	require.NoError(t, db.Callback().Create().After("gorm:create").Register("conformance:unrecord", func(tx *gorm.DB) {
		tx.Statement.ConnPool = kept
	}))
	sqlDB, err := db.DB()
	require.NoError(t, err)
	before, err := sqliteserial.StatsOf(sqlDB)
	require.NoError(t, err)

	user := User{Name: "returning", Age: 7}
	require.NoError(t, db.Session(&gorm.Session{SkipDefaultTransaction: true}).Create(&user).Error)
	require.Len(t, calls, 1)
	require.Regexp(t, "^Query: INSERT INTO `users` .* RETURNING `id`$", calls[0])
	require.NotZero(t, user.ID, "the id came back from RETURNING")

	after, err := sqliteserial.StatsOf(sqlDB)
	require.NoError(t, err)
	require.Equal(t, before.WriteRoutes+1, after.WriteRoutes, "the query was routed to the writer")
	require.Equal(t, before.ReadRoutes, after.ReadRoutes)
	require.Equal(t, before.RetriedRoutes, after.RetriedRoutes, "no reader refused it first")

	plain, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer plain.Close()
	var name string
	var age int
	require.NoError(t, plain.QueryRow("SELECT name, age FROM users WHERE id = ?", user.ID).Scan(&name, &age))
	require.Equal(t, "returning", name)
	require.Equal(t, 7, age)
}
