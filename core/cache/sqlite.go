package cache

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout is how long SQLite retries a cache locked by another process
// before giving up with SQLITE_BUSY. Tests shorten it.
var busyTimeout = 5 * time.Second

// SQLite is a Store in a SQLite file in WAL mode, safe for concurrent use by
// goroutines and by processes sharing the file.
type SQLite struct {
	db   *sql.DB
	path string
	opts Options
}

var _ Store = (*SQLite)(nil)

// Open opens or creates the cache at path, applies pending migrations and
// prunes entries that expired more than MaxStale ago. A new file and its
// directory are created readable by the owner only, because the cache reveals
// which IOCs an analyst looked up. Errors about the file wrap ErrUnavailable.
func Open(ctx context.Context, path string, opts Options) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: create directory for cache %s: %w", ErrUnavailable, path, err)
	}
	// SQLite creates the WAL and shared-memory files with the permissions
	// of the database file, so creating it first with 0600 covers all three.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: open cache %s: check that the file and its directory are writable: %w", ErrUnavailable, path, err)
	}
	f.Close()

	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("%w: open cache %s: %w", ErrUnavailable, path, err)
	}
	s := &SQLite{db: db, path: path, opts: opts.withDefaults()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.prune(ctx); err != nil {
		// A failed prune leaves old rows behind and nothing else, so the
		// cache stays usable.
		s.opts.Logger.WarnContext(ctx, "cache prune failed", "path", path, "err", err)
	}
	return s, nil
}

// OpenOrNop opens the cache at path and, when that fails, returns Nop with
// the error for the caller to log as a warning. Lookups then go to the API
// every time but no result is lost. A context error is returned with a nil
// Store.
func OpenOrNop(ctx context.Context, path string, opts Options) (Store, error) {
	s, err := Open(ctx, path, opts)
	if err == nil {
		return s, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return Nop{}, fmt.Errorf("%w; continuing without a cache", err)
}

// RemoveFiles deletes the cache file at path with its WAL and shared-memory
// files. `vex cache-clear` uses it on a cache too corrupt to open. Missing
// files are not an error.
func RemoveFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dsn builds a mattn/go-sqlite3 URI for path with WAL, a busy timeout and
// BEGIN IMMEDIATE for transactions, so a migration takes the write lock
// before it reads the schema state.
func dsn(path string) string {
	// SQLite decodes %XX in URI file names, so escape the characters that
	// would otherwise end the path or start the query.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=%d&_txlock=immediate&_synchronous=NORMAL&_foreign_keys=1",
		esc, busyTimeout.Milliseconds())
}

// migrate applies each embedded migration not yet recorded in the
// migrations table, in name order, one transaction each.
func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx,
		"CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"); err != nil {
		return s.fileError("initialise", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list cache migrations: %w", err)
	}
	sort.Strings(names)
	known := make(map[string]bool, len(names))
	for _, name := range names {
		known[filepath.Base(name)] = true
		if err := s.migrateOne(ctx, name); err != nil {
			return err
		}
	}

	// A migration this binary does not know means a newer vex wrote the
	// file, and its schema may not match the queries here.
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM migrations")
	if err != nil {
		return s.fileError("read", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return s.fileError("read", err)
		}
		if !known[name] {
			return fmt.Errorf("%w: cache %s has migration %q from a newer vex; upgrade vex or run `vex cache-clear`", ErrUnavailable, s.path, name)
		}
	}
	if err := rows.Err(); err != nil {
		return s.fileError("read", err)
	}
	return nil
}

func (s *SQLite) migrateOne(ctx context.Context, name string) error {
	base := filepath.Base(name)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fileError("lock", err)
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM migrations WHERE name = ?", base).Scan(&n); err != nil {
		return s.fileError("read", err)
	}
	if n > 0 {
		return nil
	}
	script, err := migrationFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read cache migration %s: %w", base, err)
	}
	if _, err := tx.ExecContext(ctx, string(script)); err != nil {
		return s.fileError("migrate ("+base+")", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", base, s.opts.Now().UnixMilli()); err != nil {
		return s.fileError("migrate ("+base+")", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fileError("write", err)
	}
	s.opts.Logger.DebugContext(ctx, "cache migration applied", "path", s.path, "migration", base)
	return nil
}

// fileError wraps an error about the cache file with ErrUnavailable and a
// hint chosen from the SQLite error code.
func (s *SQLite) fileError(action string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
			return fmt.Errorf("%w: %s cache %s: the file is not a valid SQLite database; run `vex cache-clear` to remove it: %w",
				ErrCorrupt, action, s.path, err)
		case sqlite3.ErrReadonly, sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return fmt.Errorf("%w: %s cache %s: check that the file and its directory are writable by this user: %w",
				ErrUnavailable, action, s.path, err)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("%w: %s cache %s: another process held it locked for more than %v: %w",
				ErrUnavailable, action, s.path, busyTimeout, err)
		case sqlite3.ErrFull:
			return fmt.Errorf("%w: %s cache %s: the disk is full: %w", ErrUnavailable, action, s.path, err)
		}
	}
	return fmt.Errorf("%w: %s cache %s: %w", ErrUnavailable, action, s.path, err)
}

// Get returns the entry for k. An entry is fresh until its ExpiresAt and
// until its FetchedAt plus the TTL configured now, so lowering a TTL in the
// config applies to entries stored before.
func (s *SQLite) Get(ctx context.Context, k Key) (Entry, bool, error) {
	e := Entry{Key: k}
	var fetched, expires int64
	err := s.db.QueryRowContext(ctx,
		"SELECT status, data, fetched_at, expires_at FROM entries WHERE mode = ? AND type = ? AND value = ?",
		k.Mode, k.Type, k.Value).Scan(&e.Status, &e.Data, &fetched, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, ErrMiss
	}
	if err != nil {
		return Entry{}, false, s.fileError("read", err)
	}
	e.FetchedAt = time.UnixMilli(fetched).UTC()
	e.ExpiresAt = time.UnixMilli(expires).UTC()
	return e, s.fresh(e, s.opts.Now()), nil
}

// fresh reports whether e is before its ExpiresAt and before its FetchedAt
// plus the TTL configured now.
func (s *SQLite) fresh(e Entry, now time.Time) bool {
	return now.Before(e.ExpiresAt) && now.Before(e.FetchedAt.Add(s.opts.ttl(e.Status)))
}

// Put stores e, replacing any entry with the same key. A zero FetchedAt
// means now. ExpiresAt is always set from FetchedAt and the status's TTL,
// whatever e carries.
func (s *SQLite) Put(ctx context.Context, e Entry) error {
	if err := validate(e); err != nil {
		return err
	}
	if e.FetchedAt.IsZero() {
		e.FetchedAt = s.opts.Now()
	}
	e.ExpiresAt = e.FetchedAt.Add(s.opts.ttl(e.Status))
	if e.Data == nil {
		e.Data = []byte{}
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO entries (mode, type, value, status, data, fetched_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (mode, type, value) DO UPDATE SET
		   status = excluded.status, data = excluded.data,
		   fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
		e.Mode, e.Type, e.Value, e.Status, e.Data, e.FetchedAt.UnixMilli(), e.ExpiresAt.UnixMilli())
	if err != nil {
		return s.fileError("write", err)
	}
	return nil
}

// Delete removes the entry for k.
func (s *SQLite) Delete(ctx context.Context, k Key) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM entries WHERE mode = ? AND type = ? AND value = ?", k.Mode, k.Type, k.Value)
	if err != nil {
		return s.fileError("write", err)
	}
	return nil
}

// Clear removes every entry and returns how many were removed. The file
// itself stays, so other processes holding it open keep working.
func (s *SQLite) Clear(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM entries")
	if err != nil {
		return 0, s.fileError("clear", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fileError("clear", err)
	}
	// Give the pages back to the file system; a failure only leaves the
	// file larger than needed.
	if _, err := s.db.ExecContext(ctx, "VACUUM"); err != nil {
		s.opts.Logger.WarnContext(ctx, "cache vacuum failed", "path", s.path, "err", err)
	}
	return int(n), nil
}

// Stats counts the entries by freshness and status.
func (s *SQLite) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Path: s.path, ByStatus: map[string]int{}}
	now := s.opts.Now().UnixMilli()
	rows, err := s.db.QueryContext(ctx,
		"SELECT status, count(*), coalesce(sum(expires_at > ?), 0) FROM entries GROUP BY status", now)
	if err != nil {
		return st, s.fileError("read", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n, fresh int
		if err := rows.Scan(&status, &n, &fresh); err != nil {
			return st, s.fileError("read", err)
		}
		st.ByStatus[status] = n
		st.Entries += n
		st.Fresh += fresh
	}
	if err := rows.Err(); err != nil {
		return st, s.fileError("read", err)
	}
	st.Expired = st.Entries - st.Fresh

	var pages, pageSize int64
	if err := s.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return st, s.fileError("read", err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return st, s.fileError("read", err)
	}
	st.Bytes = pages * pageSize
	return st, nil
}

// prune deletes entries that expired more than MaxStale ago.
func (s *SQLite) prune(ctx context.Context) error {
	cutoff := s.opts.Now().Add(-s.opts.MaxStale).UnixMilli()
	res, err := s.db.ExecContext(ctx, "DELETE FROM entries WHERE expires_at < ?", cutoff)
	if err != nil {
		return s.fileError("prune", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.opts.Logger.DebugContext(ctx, "pruned stale cache entries", "path", s.path, "entries", n)
	}
	return nil
}

// Path returns the cache file.
func (s *SQLite) Path() string { return s.path }

// Close closes the cache file.
func (s *SQLite) Close() error { return s.db.Close() }
