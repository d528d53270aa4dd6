package kb_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/verdict"
)

// writeSchema1File builds a knowledge base the way vex did before verdict
// history was kept per watchlist: schema 1 from its migration file, with
// rows inserted directly.
func writeSchema1File(t *testing.T, path string) {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	statements := []string{
		string(schema),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', '2026-01-01T00:00:00.000000000Z')`,
		`INSERT INTO iocs (id, value, type, created) VALUES
			(1, 'evil.com', 'domain', '2026-01-01T00:00:00.000000000Z'),
			(2, '9.9.9.9', 'ipv4', '2026-01-01T00:00:00.000000000Z')`,
		`INSERT INTO tags VALUES (1, 'c2', '2026-01-01T00:00:00.000000000Z')`,
		`INSERT INTO notes (ioc_id, text, created) VALUES (1, 'seen in case 12', '2026-01-01T00:00:00.000000000Z')`,
		// apt contains both indicators from the start and ran twice. late got
		// evil.com after the last run, so it never ran it.
		`INSERT INTO watchlists (id, name, created) VALUES
			(1, 'apt', '2026-01-01T00:00:00.000000000Z'),
			(2, 'late', '2026-01-03T00:00:00.000000000Z')`,
		`INSERT INTO watchlist_members VALUES
			(1, 1, '2026-01-01T00:00:00.000000000Z'),
			(1, 2, '2026-01-01T00:00:00.000000000Z'),
			(2, 1, '2026-01-03T00:00:00.000000000Z')`,
		`INSERT INTO verdicts (ioc_id, verdict, stats, at) VALUES
			(1, 'CLEAN', '{"harmless":60}', '2026-01-01T07:00:00.000000000Z'),
			(1, 'MALICIOUS', '{"malicious":7,"harmless":53}', '2026-01-02T07:00:00.000000000Z'),
			(2, 'CLEAN', '{"harmless":60}', '2026-01-02T07:00:00.000000000Z')`,
	}
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("build schema 1 file: %v\n%s", err, s)
		}
	}
}

func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kb.db")
	writeSchema1File(t, path)

	k := mustOpen(t, path)

	tags, err := k.Tags(ctx, "evil.com")
	if err != nil || len(tags) != 1 || tags[0] != "c2" {
		t.Errorf("tags after upgrade = %v, %v; want [c2]", tags, err)
	}
	local, err := k.Local(ctx, "evil.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(local.Notes) != 1 || local.Notes[0].Text != "seen in case 12" {
		t.Errorf("notes after upgrade = %+v, want the one note", local.Notes)
	}
	if len(local.Watchlists) != 2 {
		t.Errorf("watchlists after upgrade = %v, want apt and late", local.Watchlists)
	}
	members, err := k.Watchlist(ctx, "apt")
	if err != nil || len(members) != 2 {
		t.Errorf("apt members after upgrade = %+v, %v; want 2", members, err)
	}

	// The list that ran keeps comparing with its last verdict.
	rec, ok, err := k.LastVerdict(ctx, "apt", "evil.com")
	if err != nil || !ok {
		t.Fatalf("apt evil.com after upgrade: found %v, %v; want the old verdict", ok, err)
	}
	wantAt := time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC)
	if rec.Verdict != verdict.Malicious || rec.Stats.Malicious != 7 || !rec.At.Equal(wantAt) {
		t.Errorf("apt evil.com after upgrade = %+v, want MALICIOUS with 7 engines at %v", rec, wantAt)
	}
	if rec, ok, err := k.LastVerdict(ctx, "apt", "9.9.9.9"); err != nil || !ok || rec.Verdict != verdict.Clean {
		t.Errorf("apt 9.9.9.9 after upgrade = %+v, %v, %v; want CLEAN", rec, ok, err)
	}
	// The member added after the last run has no history on its list.
	if rec, ok, err := k.LastVerdict(ctx, "late", "evil.com"); err != nil || ok {
		t.Errorf("late evil.com after upgrade = %+v, %v, %v; want no verdict", rec, ok, err)
	}

	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var unattributed int
	if err := db.QueryRow("SELECT count(*) FROM verdicts WHERE watchlist_id IS NULL").Scan(&unattributed); err != nil {
		t.Fatal(err)
	}
	if unattributed != 3 {
		t.Errorf("schema 1 verdict rows after upgrade = %d, want all 3 kept", unattributed)
	}
}
