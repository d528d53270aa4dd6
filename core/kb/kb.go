// Package kb is the analyst's knowledge base: tags, notes, watchlists and
// verdict history for indicators, kept in a SQLite file of its own.
//
// Every entry is keyed by the normalised indicator (see ioc.Parse), so
// evil[.]com, EVIL.com and evil.com. are one entry. The file is separate from
// the result cache, so clearing the cache never touches it. Several processes
// may read and write one file at once: it runs in WAL mode with a busy
// timeout, and every write is one IMMEDIATE transaction.
//
// A file that is read-only, corrupt or not a vex knowledge base is reported
// with ErrReadOnly, ErrCorrupt or ErrForeign and left exactly as it was: the
// package never deletes, truncates or recreates an existing file.
package kb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/vex-ioc/vex/core/ioc"
)

// Errors that callers branch on. Match them with errors.Is.
var (
	// ErrNotFound means a note ID, a watchlist, a tag on an indicator or an
	// indicator on a watchlist does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoWatchlist means the named watchlist does not exist. It also
	// matches ErrNotFound.
	ErrNoWatchlist error = &notFoundError{"no such watchlist"}
	// ErrInvalid means an argument is unusable: an invalid indicator, an
	// empty or too long tag, note or watchlist name. An invalid indicator
	// also matches *ioc.InvalidError with errors.As.
	ErrInvalid = errors.New("invalid input")
	// ErrReadOnly means the file or its folder cannot be written.
	ErrReadOnly = errors.New("knowledge base is read-only")
	// ErrCorrupt means the file is damaged or not a SQLite database.
	ErrCorrupt = errors.New("knowledge base file is corrupt")
	// ErrForeign means the file is a SQLite database of some other program.
	ErrForeign = errors.New("file is not a vex knowledge base")
	// ErrTooNew means the file was written by a newer vex with a schema
	// this version does not know.
	ErrTooNew = errors.New("knowledge base schema is newer than this vex")
)

// applicationID marks the file as a vex knowledge base ("vexs" in ASCII).
// The first migration sets it, and Open checks it to avoid adopting a foreign
// database, for example the result cache given by mistake.
const applicationID = 0x76657873

// busyTimeout is how long a statement waits for another process's write
// lock before failing with "database is locked". Writes are short, so this
// is generous.
const busyTimeout = 10 * time.Second

// Options configure Open.
type Options struct {
	// Now returns the current time for created and added stamps. Nil means
	// time.Now.
	Now func() time.Time
}

// KB is an open knowledge base. It is safe for concurrent use.
type KB struct {
	db     *sql.DB // writes, and the checks at Open
	readDB *sql.DB // read transactions, which take no write lock
	path   string
	now    func() time.Time
}

// Open opens the knowledge base at path, creating the file and its folder
// (mode 0700) when the file does not exist, and applies pending schema
// migrations. An existing file that cannot be written is ErrReadOnly, a
// damaged one ErrCorrupt, another program's database ErrForeign, and one with
// a newer schema ErrTooNew. In each case the file is left as it was.
func Open(ctx context.Context, path string, opt Options) (*KB, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if path == "" {
		return nil, fmt.Errorf("open knowledge base: empty path: %w", ErrInvalid)
	}
	mode, err := prepareFile(path)
	if err != nil {
		return nil, err
	}

	// _txlock=immediate takes the write lock when a transaction begins, so
	// two writers queue on the busy timeout instead of one failing with
	// SQLITE_BUSY when it upgrades a read lock. WAL mode is set only after
	// checkFile, because switching a file to WAL rewrites its header.
	dsn := fmt.Sprintf("file:%s?mode=%s&_busy_timeout=%d&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL",
		escapePath(path), mode, busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open knowledge base %s: %w", path, err)
	}
	k := &KB{db: db, path: path, now: opt.Now}
	if err := k.setUp(ctx); err != nil {
		db.Close()
		return nil, err
	}

	// Reads get a pool of their own, because _txlock applies to every BEGIN
	// of a pool and mattn/go-sqlite3 ignores sql.TxOptions.ReadOnly. On db,
	// a read would take the write lock and queue behind every writer and
	// every other reader, in this process and in others.
	readDSN := fmt.Sprintf("file:%s?mode=rw&_busy_timeout=%d&_txlock=deferred&_query_only=1",
		escapePath(path), busyTimeout.Milliseconds())
	readDB, err := sql.Open("sqlite3", readDSN)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open knowledge base %s for reading: %w", path, err)
	}
	k.readDB = readDB
	return k, nil
}

// setUp checks the file, switches it to WAL and applies migrations. When
// another process creates the same new file at the same moment, SQLite can
// return "database is locked" at once, without its busy timeout (switching
// the journal mode needs an exclusive lock), so a busy step is retried
// from the start until busyTimeout has passed.
func (k *KB) setUp(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := k.setUpOnce(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (k *KB) setUpOnce(ctx context.Context) error {
	if err := k.checkFile(ctx); err != nil {
		return err
	}
	// WAL lets readers run while another process writes. The mode is
	// stored in the file, so setting it once covers every connection.
	if _, err := k.db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		return k.fail("open", err)
	}
	return k.migrate(ctx)
}

// isBusy reports whether err is SQLite's "database is locked" or "table is
// locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// Path returns the file the knowledge base lives in.
func (k *KB) Path() string { return k.path }

// Close releases the database handles.
func (k *KB) Close() error { return errors.Join(k.readDB.Close(), k.db.Close()) }

// prepareFile creates the folder of a new file and reports the SQLite open
// mode: "rwc" for a new file, "rw" for an existing one, so that a file that
// disappears between the check and the open is an error, not a fresh empty
// database. An existing file that cannot be opened for writing is
// ErrReadOnly; the check opens it without O_CREATE or O_TRUNC.
func prepareFile(path string) (string, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("create knowledge base folder %s: %w", filepath.Dir(path), writeErr(err))
		}
		// Notes name cases and victims, so only the owner may read them.
		// SQLite gives its WAL and shared-memory files the database
		// file's mode, so creating the file first covers all three. A
		// process that wins the race to create it is just as good.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create knowledge base %s: %w", path, writeErr(err))
		}
		if f != nil {
			f.Close()
		}
		return "rwc", nil
	}
	if err != nil {
		return "", fmt.Errorf("open knowledge base %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("open knowledge base %s: not a regular file: %w", path, ErrInvalid)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("open knowledge base %s for writing: %w (check the file's permissions)", path, writeErr(err))
	}
	f.Close()
	return "rw", nil
}

// writeErr adds ErrReadOnly to permission and read-only file system errors.
func writeErr(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return mark(ErrReadOnly, err)
	}
	return err
}

// escapePath makes path safe inside a file: URI, where ? and # would start
// the query or fragment.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// checkFile reads the header through SQLite, which is where a corrupt file
// or a file of another format first shows, and rejects databases of other
// programs.
func (k *KB) checkFile(ctx context.Context) error {
	var appID int64
	if err := k.db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return k.fail("open", err)
	}
	if appID == applicationID {
		return k.quickCheck(ctx)
	}
	if appID != 0 {
		return fmt.Errorf("open knowledge base %s: application id %#x: %w", k.path, appID, ErrForeign)
	}

	// Application id 0 is a new file, or one from another program. Only an
	// empty database may become a knowledge base.
	var tables int
	if err := k.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'").Scan(&tables); err != nil {
		return k.fail("open", err)
	}
	if tables > 0 {
		// Another vex process may have committed the first migration, which
		// sets the application id, between the two reads above: read the id
		// again before calling the file foreign.
		if err := k.db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
			return k.fail("open", err)
		}
		if appID == applicationID {
			return k.quickCheck(ctx)
		}
		return fmt.Errorf("open knowledge base %s: the file contains %d tables of another program (check the path): %w", k.path, tables, ErrForeign)
	}
	return nil
}

// quickCheck runs SQLite's quick_check, which reads every page, so damage
// shows at Open with a clear message instead of in the middle of a command.
// A knowledge base is small enough that this costs milliseconds.
func (k *KB) quickCheck(ctx context.Context) error {
	rows, err := k.db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return k.fail("check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return k.fail("check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return k.fail("check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("check knowledge base %s: %s: %w (move the file aside and restore a backup; vex does not overwrite it)",
			k.path, strings.Join(problems, "; "), ErrCorrupt)
	}
	return nil
}

// fail wraps a database error with the operation and the file, and adds the
// sentinel for the conditions a user must act on.
func (k *KB) fail(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrReadonly, sqlite3.ErrPerm, sqlite3.ErrCantOpen:
			return fmt.Errorf("%s knowledge base %s: %w (check that the file and its folder are writable)", op, k.path, mark(ErrReadOnly, err))
		case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			return fmt.Errorf("%s knowledge base %s: %w (move the file aside and restore a backup; vex does not overwrite it)", op, k.path, mark(ErrCorrupt, err))
		}
	}
	return fmt.Errorf("%s knowledge base %s: %w", op, k.path, err)
}

// write runs fn in one IMMEDIATE transaction and commits it. Any error
// rolls everything back, so a failed call changes nothing.
func (k *KB) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return k.fail(op, err)
	}
	defer tx.Rollback()

	if err := fn(tx); err != nil {
		if isDBError(err) {
			return k.fail(op, err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return k.fail(op, err)
	}
	return nil
}

// read runs fn in a read transaction, so a listing reads one consistent
// snapshot even while other processes write.
func (k *KB) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := k.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return k.fail(op, err)
	}
	defer tx.Rollback()

	if err := fn(tx); err != nil {
		if isDBError(err) {
			return k.fail(op, err)
		}
		return err
	}
	return nil
}

// notFoundError is a more specific ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// markedError adds a sentinel to an error without changing its message.
type markedError struct {
	kind error
	err  error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.kind, e.err} }

func mark(kind, err error) error { return &markedError{kind: kind, err: err} }

func isDBError(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se)
}

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, so that
// comparing the stored text orders by time.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// parseIOC normalises input into the key every table uses.
func parseIOC(input string) (ioc.IOC, error) {
	v, err := ioc.Parse(input)
	if err != nil {
		return ioc.IOC{}, mark(ErrInvalid, err)
	}
	return v, nil
}

// iocID returns the row of an indicator, inserting it when create is set.
// Without create, a missing row is (0, nil).
func (k *KB) iocID(ctx context.Context, tx *sql.Tx, v ioc.IOC, create bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM iocs WHERE value = ?", v.Value).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if !create {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO iocs (value, type, created) VALUES (?, ?, ?)",
		v.Value, string(v.Type), formatTime(k.now()))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}
