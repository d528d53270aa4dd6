package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrLedger is wrapped by every error about the ledger file itself: corrupt,
// unreadable, not writable or from a newer vex.
var ErrLedger = errors.New("request ledger unusable")

// ledgerVersion is the schema version stored in PRAGMA user_version.
const ledgerVersion = 1

// The ledger holds one row per reservation still inside the window and one
// row per recent UTC day with its count, so its size stays bounded by
// PerMinute plus a few days whatever the daily quota is.
const ledgerSchema = `
CREATE TABLE sends (
	at_ms INTEGER NOT NULL -- reservation time, Unix milliseconds
);
CREATE INDEX sends_at ON sends (at_ms);
CREATE TABLE days (
	day       TEXT PRIMARY KEY,              -- UTC date, YYYY-MM-DD
	used      INTEGER NOT NULL DEFAULT 0,    -- requests reserved that day
	exhausted INTEGER NOT NULL DEFAULT 0     -- 1 once the API reported the quota spent
);
`

// keepDays is how many past UTC days of counts survive pruning; only today
// matters for decisions, the rest helps when reading the file by hand.
const keepDays = 7

// busyTimeout is how long SQLite itself retries a locked ledger before
// returning SQLITE_BUSY. Wait then backs off and tries again. Tests shorten it.
var busyTimeout = 5 * time.Second

// Ledger is a Quota whose counters live in a SQLite file, so every process
// that opens the same file shares one per-minute window and one daily quota.
// It is safe for concurrent use.
type Ledger struct {
	db     *sql.DB
	path   string
	limits Limits
	opts   Options

	mu     sync.Mutex
	window []int64   // reservation times inside the window as last known, for ETA
	readAt time.Time // when window was last read from the file
}

// windowReread is how often at most a reservation rereads every time in the
// window to refresh the ETA's view of other processes' requests. The
// decision itself never needs the times; see reserve.
const windowReread = time.Second

var _ Quota = (*Ledger)(nil)

// Open opens or creates the ledger at path, creating its directory with mode
// 0700 when missing. A file that is not a valid ledger returns an error
// wrapping ErrLedger that names the file; the ledger is never silently reset,
// because resetting it would forget requests already spent today.
func Open(ctx context.Context, path string, l Limits, opts Options) (*Ledger, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: create directory for ledger %s: %w", ErrLedger, path, err)
	}
	// The ledger is the owner's business only. SQLite gives its WAL and
	// shared-memory files the database file's mode, so creating the file
	// first with 0600 covers all three; an existing file keeps its mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: open ledger %s: check that the file and its directory are writable: %w", ErrLedger, path, err)
	}
	f.Close()
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("%w: open ledger %s: %w", ErrLedger, path, err)
	}
	// One connection per process: reservations are serialised anyway by
	// BEGIN IMMEDIATE, and a single connection keeps goroutines of one
	// process from contending on SQLite's file lock.
	db.SetMaxOpenConns(1)

	ld := &Ledger{db: db, path: path, limits: l, opts: opts.withDefaults()}
	// Processes starting together race to switch the file to WAL and
	// create the schema; SQLite reports some of those collisions as busy
	// without waiting, so retry them a bounded number of times.
	for attempt := 0; ; attempt++ {
		err = ld.migrate(ctx)
		if err == nil {
			return ld, nil
		}
		if !isBusy(err) || attempt >= 10 || ctx.Err() != nil {
			break
		}
		if serr := ld.opts.Sleep(ctx, busyBackoff(attempt)); serr != nil {
			err = serr
			break
		}
	}
	db.Close()
	return nil, err
}

// OpenOrMemory opens the ledger at path and, when that fails, returns an
// in-memory limiter with the same limits together with the error, which the
// caller logs as a warning. The process then keeps its own limits but no
// longer shares them with other processes. A context error is returned as is
// with a nil Quota.
func OpenOrMemory(ctx context.Context, path string, l Limits, opts Options) (Quota, error) {
	ld, err := Open(ctx, path, l, opts)
	if err == nil {
		return ld, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, ErrInvalidLimits) {
		return nil, err
	}
	m, merr := NewMemory(l, opts)
	if merr != nil {
		return nil, merr
	}
	return m, fmt.Errorf("%w; using an in-process limit that other vex processes do not share", err)
}

// dsn builds a mattn/go-sqlite3 URI for path. BEGIN IMMEDIATE (_txlock) takes
// the write lock when a transaction starts, so two processes cannot both read
// a free slot and then both take it.
func dsn(path string) string {
	// SQLite decodes %XX in URI file names, so escape the characters that
	// would otherwise end the path or start the query.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=%d&_txlock=immediate&_synchronous=NORMAL",
		esc, busyTimeout.Milliseconds())
}

func (l *Ledger) migrate(ctx context.Context) error {
	var version int
	if err := l.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return l.fileError("read", err)
	}
	switch {
	case version == ledgerVersion:
		return nil
	case version > ledgerVersion:
		return fmt.Errorf("%w: ledger %s has schema version %d but this vex supports up to %d; upgrade vex or use another data directory",
			ErrLedger, l.path, version, ledgerVersion)
	}

	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.fileError("lock", err)
	}
	defer tx.Rollback()
	// Another process may have created the schema while this one waited
	// for the lock.
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return l.fileError("read", err)
	}
	if version == ledgerVersion {
		return nil
	}
	if _, err := tx.ExecContext(ctx, ledgerSchema); err != nil {
		return l.fileError("create schema in", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", ledgerVersion)); err != nil {
		return l.fileError("set schema version of", err)
	}
	if err := tx.Commit(); err != nil {
		return l.fileError("write", err)
	}
	return nil
}

// fileError wraps a SQLite error about the file with ErrLedger and a hint.
func (l *Ledger) fileError(action string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
			return fmt.Errorf("%w: %s ledger %s: the file is not a valid SQLite database; move it aside to start new counters (requests already spent today are then forgotten): %w",
				ErrLedger, action, l.path, err)
		case sqlite3.ErrReadonly, sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return fmt.Errorf("%w: %s ledger %s: check that the file and its directory are writable by this user: %w",
				ErrLedger, action, l.path, err)
		case sqlite3.ErrFull:
			return fmt.Errorf("%w: %s ledger %s: the disk is full: %w", ErrLedger, action, l.path, err)
		}
	}
	return fmt.Errorf("%w: %s ledger %s: %w", ErrLedger, action, l.path, err)
}

// Wait reserves one request. It blocks while the window is full, returns an
// error wrapping ErrQuotaExhausted at once when the day's quota is spent, and
// returns ctx.Err() when ctx ends. A ledger that another process holds locked
// is retried with backoff rather than reported.
func (l *Ledger) Wait(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, err := l.reserve(ctx)
		switch {
		case err == nil && wait == 0:
			return nil
		case err == nil:
			l.opts.Logger.DebugContext(ctx, "rate limit window full, waiting", "wait", wait, "per_minute", l.limits.PerMinute)
		case isBusy(err):
			wait = busyBackoff(attempt)
			l.opts.Logger.WarnContext(ctx, "request ledger busy, retrying", "path", l.path, "attempt", attempt+1, "wait", wait)
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return err
		}
		if err := l.opts.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// reserve runs one decision under the write lock. It returns (0, nil) when a
// request was reserved and a positive wait when the window is full.
//
// Its cost does not grow with the per-minute limit. After pruning, every row
// of sends is inside the window (or stamped ahead of it, which counts too),
// so SQLite's table count gives the live reservations. Only a full window
// reads the one reservation whose departure frees a slot. decide
// states the same rule over a list of times, for the in-memory Quota.
func (l *Ledger) reserve(ctx context.Context) (time.Duration, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, l.fileError("lock", err)
	}
	defer tx.Rollback()
	// Read the clock only after the lock is held, so reservations enter the
	// ledger in time order across processes.
	now := l.opts.Now()
	nowMS := now.UnixMilli()

	if err := prune(ctx, tx, now); err != nil {
		return 0, l.fileError("prune", err)
	}
	b, err := loadDay(ctx, tx, now)
	if err != nil {
		return 0, l.fileError("read", err)
	}
	// Paths that reserve nothing still commit, so the pruning sticks: a
	// row moved back after a clock step must not move again next time.
	if b.exhausted || b.usedToday >= l.limits.PerDay {
		if err := tx.Commit(); err != nil {
			return 0, l.fileError("write", err)
		}
		return 0, quotaError(ErrQuotaExhausted, b, l.limits, now)
	}
	var live int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM sends").Scan(&live); err != nil {
		return 0, l.fileError("read", err)
	}
	if live >= l.limits.PerMinute {
		var freeing int64
		err := tx.QueryRowContext(ctx, "SELECT at_ms FROM sends ORDER BY at_ms LIMIT 1 OFFSET ?",
			live-l.limits.PerMinute).Scan(&freeing)
		if err != nil {
			return 0, l.fileError("read", err)
		}
		if err := tx.Commit(); err != nil {
			return 0, l.fileError("write", err)
		}
		return slotWait(freeing, nowMS), nil
	}
	if err := record(ctx, tx, now); err != nil {
		return 0, l.fileError("write", err)
	}
	window, err := l.etaWindow(ctx, tx, now, live)
	if err != nil {
		return 0, l.fileError("read", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, l.fileError("write", err)
	}
	l.mu.Lock()
	if window != nil {
		l.window, l.readAt = window, now
	} else {
		l.window = append(l.window, nowMS)
	}
	l.mu.Unlock()
	return 0, nil
}

// etaWindow returns every reservation time in the window, the one just
// recorded included, when the times this process holds in memory are stale: they
// count other than the live reservations before this one, and the last
// read is at least windowReread old. It returns nil when the known times
// only need this reservation appended. A single process thus never rereads
// them, and processes sharing the file reread them at most once a second.
func (l *Ledger) etaWindow(ctx context.Context, tx *sql.Tx, now time.Time, live int) ([]int64, error) {
	cutoff := now.UnixMilli() - Window.Milliseconds()
	l.mu.Lock()
	known := l.window[:0]
	for _, at := range l.window {
		if at > cutoff {
			known = append(known, at)
		}
	}
	l.window = known
	fresh := len(known) == live || now.Sub(l.readAt) < windowReread
	l.mu.Unlock()
	if fresh {
		return nil, nil
	}
	return readWindow(ctx, tx, now)
}

func prune(ctx context.Context, tx *sql.Tx, now time.Time) error {
	nowMS := now.UnixMilli()
	if _, err := tx.ExecContext(ctx, "DELETE FROM sends WHERE at_ms <= ?", nowMS-Window.Milliseconds()); err != nil {
		return err
	}
	// Rows stamped more than a window ahead mean the clock stepped back;
	// moving them to now keeps them counted for one window instead of
	// blocking until the clock catches up.
	if _, err := tx.ExecContext(ctx, "UPDATE sends SET at_ms = ? WHERE at_ms > ?", nowMS, nowMS+Window.Milliseconds()); err != nil {
		return err
	}
	oldest := dayKey(now.AddDate(0, 0, -keepDays))
	_, err := tx.ExecContext(ctx, "DELETE FROM days WHERE day < ?", oldest)
	return err
}

// loadDay reads the day's count and whether the API reported the quota spent.
func loadDay(ctx context.Context, q querier, now time.Time) (budget, error) {
	var b budget
	var exhausted int
	err := q.QueryRowContext(ctx, "SELECT used, exhausted FROM days WHERE day = ?", dayKey(now)).Scan(&b.usedToday, &exhausted)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return b, err
	}
	b.exhausted = exhausted != 0
	return b, nil
}

// readWindow returns the reservation times inside the window at now.
func readWindow(ctx context.Context, q querier, now time.Time) ([]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT at_ms FROM sends WHERE at_ms > ?", now.UnixMilli()-Window.Milliseconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	window := []int64{}
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, err
		}
		window = append(window, at)
	}
	return window, rows.Err()
}

// querier is the part of *sql.DB and *sql.Tx that loadDay and readWindow use.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func record(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO sends (at_ms) VALUES (?)", now.UnixMilli()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx,
		"INSERT INTO days (day, used) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET used = used + 1",
		dayKey(now))
	return err
}

// quotaError adds the numbers and the reset time to ErrQuotaExhausted.
func quotaError(err error, b budget, l Limits, now time.Time) error {
	reset := nextReset(now).Format(time.RFC3339)
	if b.exhausted {
		return fmt.Errorf("%w: VirusTotal reported the quota spent; it resets at %s", err, reset)
	}
	return fmt.Errorf("%w: %d of %d requests used today; the quota resets at %s", err, b.usedToday, l.PerDay, reset)
}

// MarkExhausted records that VirusTotal reported the daily quota as spent.
// Every process sharing the ledger then gets ErrQuotaExhausted from Wait until
// the next UTC day.
func (l *Ledger) MarkExhausted(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		_, err := l.db.ExecContext(ctx,
			"INSERT INTO days (day, exhausted) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET exhausted = 1",
			dayKey(l.opts.Now()))
		if err == nil {
			return nil
		}
		if !isBusy(err) || ctx.Err() != nil {
			return l.fileError("write", err)
		}
		if err := l.opts.Sleep(ctx, busyBackoff(attempt)); err != nil {
			return err
		}
	}
}

// Status reads the current counters.
func (l *Ledger) Status(ctx context.Context) (Status, error) {
	now := l.opts.Now()
	b, err := loadDay(ctx, l.db, now)
	if err != nil {
		return Status{}, l.fileError("read", err)
	}
	if b.window, err = readWindow(ctx, l.db, now); err != nil {
		return Status{}, l.fileError("read", err)
	}
	l.mu.Lock()
	l.window, l.readAt = b.window, now
	l.mu.Unlock()
	return statusOf(l.limits, b, now), nil
}

func statusOf(l Limits, b budget, now time.Time) Status {
	return Status{
		UsedToday:    b.usedToday,
		PerDay:       l.PerDay,
		InLastMinute: len(b.window),
		PerMinute:    l.PerMinute,
		Exhausted:    b.exhausted || b.usedToday >= l.PerDay,
		ResetAt:      nextReset(now),
	}
}

// ETA estimates how long n more requests take under the per-minute limit,
// from the window this process last read. It does no I/O, so it can be
// called on every progress bar update; requests by other processes since the
// last read make the real wait longer.
func (l *Ledger) ETA(n int) time.Duration {
	l.mu.Lock()
	window := append([]int64(nil), l.window...)
	l.mu.Unlock()
	return eta(l.limits, window, l.opts.Now(), n)
}

// Close closes the ledger file.
func (l *Ledger) Close() error { return l.db.Close() }

// isBusy reports whether err is SQLite's "database is locked" after the busy
// timeout, which Wait retries instead of reporting.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// busyBackoff grows from 50 ms to 2 s with jitter, so processes that collide
// on the lock do not retry in step.
func busyBackoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt, 5)
	d = min(d, 2*time.Second)
	return d/2 + rand.N(d/2+1)
}
