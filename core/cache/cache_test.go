package cache

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func mustOpen(t testing.TB, path string, opts Options) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB, c *clock) *SQLite {
	return mustOpen(t, filepath.Join(t.TempDir(), "cache.db"), Options{Now: c.Now})
}

var key = Key{Mode: "triage", Type: "domain", Value: "example.com"}

func TestGetMiss(t *testing.T) {
	s := newStore(t, &clock{now: t0})
	if _, _, err := s.Get(context.Background(), key); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get on an empty cache = %v, want ErrMiss", err)
	}
}

func TestPutGetRoundTrip(t *testing.T) {
	c := &clock{now: t0}
	s := newStore(t, c)
	ctx := context.Background()
	data := []byte(`{"data":{"id":"example.com","type":"domain"}}`)
	if err := s.Put(ctx, Entry{Key: key, Status: StatusOK, Data: data}); err != nil {
		t.Fatal(err)
	}
	e, fresh, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !fresh {
		t.Error("a new entry is not fresh")
	}
	if !bytes.Equal(e.Data, data) {
		t.Errorf("Data = %s, want %s", e.Data, data)
	}
	if e.Key != key || e.Status != StatusOK {
		t.Errorf("Get = %+v", e)
	}
	if !e.FetchedAt.Equal(t0) {
		t.Errorf("FetchedAt = %v, want %v", e.FetchedAt, t0)
	}
	if want := t0.Add(DefaultTTL); !e.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", e.ExpiresAt, want)
	}

	// Another mode or type is another key.
	for _, k := range []Key{{"investigate", "domain", "example.com"}, {"triage", "url", "example.com"}} {
		if _, _, err := s.Get(ctx, k); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(%v) = %v, want ErrMiss", k, err)
		}
	}
}

func TestTTLByStatus(t *testing.T) {
	cases := []struct {
		status string
		ttl    time.Duration
	}{
		{StatusOK, DefaultTTL},
		{StatusNotFound, DefaultNotFoundTTL},
		{StatusPartial, DefaultPartialTTL},
	}
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			c := &clock{now: t0}
			s := newStore(t, c)
			ctx := context.Background()
			// ExpiresAt passed in is ignored: the status decides.
			if err := s.Put(ctx, Entry{Key: key, Status: tc.status, ExpiresAt: t0.Add(1000 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			c.Advance(tc.ttl - time.Millisecond)
			if _, fresh, err := s.Get(ctx, key); err != nil || !fresh {
				t.Errorf("just before the TTL: fresh=%v err=%v, want fresh", fresh, err)
			}
			c.Advance(time.Millisecond)
			e, fresh, err := s.Get(ctx, key)
			if err != nil {
				t.Fatalf("expired entry: %v, want it returned for stale use", err)
			}
			if fresh {
				t.Error("entry still fresh at its TTL")
			}
			if e.Status != tc.status {
				t.Errorf("Status = %q", e.Status)
			}
		})
	}
}

func TestLowerTTLAppliesToOldEntries(t *testing.T) {
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "cache.db")
	s := mustOpen(t, path, Options{Now: c.Now, TTL: 24 * time.Hour})
	if err := s.Put(context.Background(), Entry{Key: key, Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Advance(2 * time.Hour)
	s = mustOpen(t, path, Options{Now: c.Now, TTL: time.Hour})
	if _, fresh, err := s.Get(context.Background(), key); err != nil || fresh {
		t.Errorf("after lowering the TTL to 1h, a 2h-old entry: fresh=%v err=%v, want stale", fresh, err)
	}
}

func TestPutReplaces(t *testing.T) {
	c := &clock{now: t0}
	s := newStore(t, c)
	ctx := context.Background()
	if err := s.Put(ctx, Entry{Key: key, Status: StatusNotFound}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	if err := s.Put(ctx, Entry{Key: key, Status: StatusOK, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	e, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != StatusOK || string(e.Data) != "{}" || !e.FetchedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after replace: %+v", e)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 1 {
		t.Errorf("Entries = %d, want 1", st.Entries)
	}
}

func TestPutInvalid(t *testing.T) {
	s := newStore(t, &clock{now: t0})
	cases := []Entry{
		{Key: Key{Type: "domain", Value: "a.com"}, Status: StatusOK},
		{Key: Key{Mode: "triage", Value: "a.com"}, Status: StatusOK},
		{Key: Key{Mode: "triage", Type: "domain"}, Status: StatusOK},
		{Key: key, Status: "error"},
		{Key: key},
	}
	for _, e := range cases {
		if err := s.Put(context.Background(), e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("Put(%+v) = %v, want ErrInvalidEntry", e, err)
		}
		if err := (Nop{}).Put(context.Background(), e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("Nop.Put(%+v) = %v, want ErrInvalidEntry", e, err)
		}
	}
}

func TestDeleteClearStats(t *testing.T) {
	c := &clock{now: t0}
	s := newStore(t, c)
	ctx := context.Background()
	for i, status := range []string{StatusOK, StatusOK, StatusNotFound, StatusPartial} {
		k := Key{"triage", "domain", fmt.Sprintf("d%d.com", i)}
		if err := s.Put(ctx, Entry{Key: k, Status: status, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(2 * time.Hour) // the partial entry expires

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 4 || st.Fresh != 3 || st.Expired != 1 {
		t.Errorf("Stats = %+v, want 4 entries, 3 fresh, 1 expired", st)
	}
	if st.ByStatus[StatusOK] != 2 || st.ByStatus[StatusNotFound] != 1 || st.ByStatus[StatusPartial] != 1 {
		t.Errorf("ByStatus = %v", st.ByStatus)
	}
	if st.Bytes <= 0 || st.Path == "" {
		t.Errorf("Stats Bytes=%d Path=%q", st.Bytes, st.Path)
	}

	if err := s.Delete(ctx, Key{"triage", "domain", "d0.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Key{"triage", "domain", "absent.com"}); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, _, err := s.Get(ctx, Key{"triage", "domain", "d0.com"}); !errors.Is(err, ErrMiss) {
		t.Errorf("Get after Delete = %v", err)
	}

	n, err := s.Clear(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Clear removed %d, want 3", n)
	}
	if n, err := s.Clear(ctx); n != 0 || err != nil {
		t.Errorf("second Clear = %d, %v", n, err)
	}
}

func TestPruneOnOpen(t *testing.T) {
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "cache.db")
	s := mustOpen(t, path, Options{Now: c.Now})
	ctx := context.Background()
	if err := s.Put(ctx, Entry{Key: key, Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	c.Advance(DefaultTTL + DefaultMaxStale - time.Minute)
	s = mustOpen(t, path, Options{Now: c.Now})
	if _, _, err := s.Get(ctx, key); err != nil {
		t.Errorf("entry expired for less than MaxStale was pruned: %v", err)
	}
	s.Close()

	c.Advance(2 * time.Minute)
	s = mustOpen(t, path, Options{Now: c.Now})
	if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrMiss) {
		t.Errorf("entry expired for more than MaxStale: %v, want ErrMiss", err)
	}
}

func TestSharedBetweenHandles(t *testing.T) {
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "cache.db")
	a := mustOpen(t, path, Options{Now: c.Now})
	b := mustOpen(t, path, Options{Now: c.Now})
	ctx := context.Background()

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			store := a
			if w%2 == 1 {
				store = b
			}
			for i := range 50 {
				k := Key{"triage", "ipv4", fmt.Sprintf("198.51.100.%d", i)}
				if err := store.Put(ctx, Entry{Key: k, Status: StatusOK, Data: []byte(`{}`)}); err != nil {
					t.Errorf("Put: %v", err)
				}
				if _, _, err := store.Get(ctx, k); err != nil {
					t.Errorf("Get: %v", err)
				}
			}
		})
	}
	wg.Wait()
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 50 {
		t.Errorf("Entries = %d, want 50", st.Entries)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "cache.db")
	s := mustOpen(t, path, Options{})
	if err := s.Put(context.Background(), Entry{Key: key, Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s mode %v, want at most %v", filepath.Base(p), got, want)
		}
	}
}

func TestOpenCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	junk := []byte(strings.Repeat("not a database ", 500))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(corrupt) = %v, want ErrCorrupt and ErrUnavailable", err)
	}
	for _, want := range []string{path, "not a valid SQLite database", "vex cache-clear"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	store, err := OpenOrNop(context.Background(), path, Options{})
	if err == nil || !errors.Is(err, ErrUnavailable) {
		t.Errorf("OpenOrNop warning = %v, want one wrapping ErrUnavailable", err)
	}
	if _, ok := store.(Nop); !ok {
		t.Fatalf("OpenOrNop(corrupt) = %T, want Nop", store)
	}
	if err := store.Put(context.Background(), Entry{Key: key, Status: StatusOK}); err != nil {
		t.Errorf("Nop.Put: %v", err)
	}
	if _, _, err := store.Get(context.Background(), key); !errors.Is(err, ErrMiss) {
		t.Errorf("Nop.Get = %v, want ErrMiss", err)
	}

	if err := RemoveFiles(path); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path, Options{})
	if err := s.Put(context.Background(), Entry{Key: key, Status: StatusOK}); err != nil {
		t.Errorf("Put after RemoveFiles: %v", err)
	}
}

func TestOpenUnwritable(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := OpenOrNop(context.Background(), filepath.Join(notDir, "cache.db"), Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("OpenOrNop under a regular file = %v, want ErrUnavailable", err)
	}
	if _, ok := store.(Nop); !ok {
		t.Errorf("store = %T, want Nop", store)
	}

	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores file permissions")
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ro, "cache.db")
	s := mustOpen(t, path, Options{})
	s.Close()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	if _, err := Open(context.Background(), path, Options{}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "writable") {
		t.Errorf("Open(read-only) = %v, want ErrUnavailable naming writability", err)
	}
}

func TestOpenNewerMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s := mustOpen(t, path, Options{})
	if _, err := s.db.Exec("INSERT INTO migrations (name, applied_at) VALUES ('9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "9999_future.sql") {
		t.Fatalf("Open with an unknown migration = %v", err)
	}
}

func TestMigrationsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	mustOpen(t, path, Options{}).Close()
	s := mustOpen(t, path, Options{}) // the second open applies nothing
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	names, _ := migrationFS.ReadDir("migrations")
	if n != len(names) {
		t.Errorf("migrations recorded = %d, want %d", n, len(names))
	}
}

func BenchmarkGet(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "cache.db"), Options{})
			fill(b, s, size)
			ctx := context.Background()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				k := Key{"triage", "sha256", fmt.Sprintf("%064x", i%size)}
				if _, _, err := s.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// fill inserts n entries in one transaction, which is far faster than n Puts.
func fill(b *testing.B, s *SQLite, n int) {
	b.Helper()
	data := bytes.Repeat([]byte("x"), 2048)
	tx, err := s.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare("INSERT INTO entries (mode, type, value, status, data, fetched_at, expires_at) VALUES ('triage', 'sha256', ?, 'ok', ?, 0, ?)")
	if err != nil {
		b.Fatal(err)
	}
	far := time.Now().Add(time.Hour).UnixMilli()
	for i := range n {
		if _, err := stmt.Exec(fmt.Sprintf("%064x", i), data, far); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func TestPutDiskFull(t *testing.T) {
	s := newStore(t, &clock{now: t0})
	ctx := context.Background()
	// max_page_count is per connection, so pin the pool to one connection
	// and cap the file at its current size: the next growth fails as a
	// full disk does.
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.Exec("PRAGMA max_page_count = 8"); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), 256<<10)
	err := s.Put(ctx, Entry{Key: key, Status: StatusOK, Data: big})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Put on a full disk = %v, want ErrUnavailable naming the full disk", err)
	}
	// Smaller entries and reads keep working.
	small := Key{"triage", "domain", "small.example"}
	if err := s.Put(ctx, Entry{Key: small, Status: StatusOK, Data: []byte(`{}`)}); err != nil {
		t.Errorf("small Put after a full-disk error: %v", err)
	}
	if _, _, err := s.Get(ctx, small); err != nil {
		t.Errorf("Get after a full-disk error: %v", err)
	}
}

func TestOpenLockedDegradesToNop(t *testing.T) {
	old := busyTimeout
	busyTimeout = 200 * time.Millisecond
	t.Cleanup(func() { busyTimeout = old })

	path := filepath.Join(t.TempDir(), "cache.db")
	mustOpen(t, path, Options{}).Close()

	// Another connection takes the file in exclusive locking mode and
	// writes, which keeps every other connection out until it closes.
	holder, err := sql.Open("sqlite3", "file:"+path+"?_locking_mode=EXCLUSIVE")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	holder.SetMaxOpenConns(1)
	if _, err := holder.Exec("INSERT INTO migrations (name, applied_at) VALUES ('0001_entries.sql', 0) ON CONFLICT DO NOTHING"); err != nil {
		t.Fatal(err)
	}

	store, err := OpenOrNop(context.Background(), path, Options{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("OpenOrNop on a locked cache: warning %v, want ErrUnavailable naming the lock", err)
	}
	if _, ok := store.(Nop); !ok {
		t.Errorf("OpenOrNop on a locked cache = %T, want Nop", store)
	}
}
