package kb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/verdict"
)

// clock is a fake time source that advances one second per call, so every
// stored stamp is distinct and predictable.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func mustOpen(t *testing.T, path string) *kb.KB {
	t.Helper()
	k, err := kb.Open(context.Background(), path, kb.Options{Now: newClock().Now})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func newKB(t *testing.T) *kb.KB {
	t.Helper()
	return mustOpen(t, filepath.Join(t.TempDir(), "kb.db"))
}

func TestTagsRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	got, err := k.AddTags(ctx, "evil.com", "phishing", "APT29")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"APT29", "phishing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AddTags = %q, want %q", got, want)
	}

	got, err = k.UpdateTags(ctx, "evil.com", []string{"c2"}, []string{"Phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"APT29", "c2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("UpdateTags = %q, want %q", got, want)
	}

	got, err = k.Tags(ctx, "evil.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"APT29", "c2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tags = %q, want %q", got, want)
	}
}

func TestTagsCaseInsensitive(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	if _, err := k.AddTags(ctx, "evil.com", "APT29", "apt29"); err != nil {
		t.Fatal(err)
	}
	got, err := k.AddTags(ctx, "evil.com", "Apt29")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"APT29"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tags = %q, want %q (first spelling kept, one entry)", got, want)
	}
}

func TestTagsUnknownIOCHasNone(t *testing.T) {
	got, err := newKB(t).Tags(context.Background(), "8.8.8.8")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Tags = %q, want none", got)
	}
}

func TestKeyNormalisation(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	forms := []string{"evil[.]com", "EVIL.com", "evil.com.", "  evil(.)COM  "}
	for i, f := range forms {
		if _, err := k.AddTags(ctx, f, "t"+strconv.Itoa(i)); err != nil {
			t.Fatalf("AddTags(%q): %v", f, err)
		}
	}
	for _, f := range forms {
		got, err := k.Tags(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(forms) {
			t.Errorf("Tags(%q) = %q, want all %d tags on one key", f, got, len(forms))
		}
	}

	all, err := k.ListTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.IOC != "evil.com" || e.Type != ioc.Domain {
			t.Errorf("ListTags entry %+v, want ioc evil.com of type domain", e)
		}
	}
}

func TestTagsBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddTags(ctx, "evil.com", "keep"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		input    string
		add, rem []string
		want     error
	}{
		{"empty tag", "evil.com", []string{"new", "  "}, nil, kb.ErrInvalid},
		{"control character", "evil.com", []string{"a\x1b[31mb"}, nil, kb.ErrInvalid},
		{"too long", "evil.com", []string{strings.Repeat("a", kb.MaxTagLen+1)}, nil, kb.ErrInvalid},
		{"missing tag", "evil.com", []string{"new"}, []string{"absent"}, kb.ErrNotFound},
		{"invalid ioc", "not an ioc", []string{"new"}, nil, kb.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.UpdateTags(ctx, tc.input, tc.add, tc.rem)
			if !errors.Is(err, tc.want) {
				t.Fatalf("UpdateTags error = %v, want %v", err, tc.want)
			}
			got, err := k.Tags(ctx, "evil.com")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"keep"}; !reflect.DeepEqual(got, want) {
				t.Errorf("tags after failed update = %q, want %q", got, want)
			}
		})
	}
}

func TestInvalidIOCKeepsReason(t *testing.T) {
	_, err := newKB(t).AddTags(context.Background(), "invoice.pdf", "x")
	var ie *ioc.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v does not wrap *ioc.InvalidError", err)
	}
	if !errors.Is(err, kb.ErrInvalid) {
		t.Errorf("error %v does not match ErrInvalid", err)
	}
}

func TestNotesRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	n1, err := k.AddNote(ctx, "EVIL.com", "seen in case 42\nsecond line")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := k.AddNote(ctx, "evil[.]com", "  blocked at the proxy  ")
	if err != nil {
		t.Fatal(err)
	}
	if n2.ID <= n1.ID {
		t.Errorf("note IDs %d then %d, want increasing", n1.ID, n2.ID)
	}
	if n2.Text != "blocked at the proxy" {
		t.Errorf("note text %q, want trimmed", n2.Text)
	}

	notes, err := k.Notes(ctx, "evil.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0] != n1 || !notes[1].Created.Equal(n2.Created) || notes[1].ID != n2.ID {
		t.Fatalf("Notes = %+v, want %+v and %+v", notes, n1, n2)
	}

	if err := k.DeleteNote(ctx, "evil.com", n1.ID); err != nil {
		t.Fatal(err)
	}
	n3, err := k.AddNote(ctx, "evil.com", "third")
	if err != nil {
		t.Fatal(err)
	}
	if n3.ID <= n2.ID {
		t.Errorf("note ID %d after delete, want a new ID above %d", n3.ID, n2.ID)
	}
	notes, _ = k.Notes(ctx, "evil.com")
	if len(notes) != 2 || notes[0].ID != n2.ID || notes[1].ID != n3.ID {
		t.Errorf("Notes after delete = %+v", notes)
	}
}

func TestNotesBadInput(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	n, err := k.AddNote(ctx, "evil.com", "keep")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := k.AddNote(ctx, "evil.com", " \n "); !errors.Is(err, kb.ErrInvalid) {
		t.Errorf("empty note: error %v, want ErrInvalid", err)
	}
	if _, err := k.AddNote(ctx, "evil.com", "bell\a"); !errors.Is(err, kb.ErrInvalid) {
		t.Errorf("control character: error %v, want ErrInvalid", err)
	}
	if err := k.DeleteNote(ctx, "evil.com", n.ID+100); !errors.Is(err, kb.ErrNotFound) {
		t.Errorf("missing note ID: error %v, want ErrNotFound", err)
	}
	if err := k.DeleteNote(ctx, "other.com", n.ID); !errors.Is(err, kb.ErrNotFound) {
		t.Errorf("note of another IOC: error %v, want ErrNotFound", err)
	}

	notes, err := k.Notes(ctx, "evil.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || notes[0].ID != n.ID {
		t.Errorf("notes after failed calls = %+v, want only %+v", notes, n)
	}
}

func TestWatchlistRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	ch, err := k.AddToWatchlist(ctx, "apt29", "evil[.]com", "1.2.3.4", "EVIL.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"evil.com", "1.2.3.4"}; !reflect.DeepEqual(ch.Changed, want) || ch.Members != 2 {
		t.Errorf("add: %+v, want changed %q and 2 members", ch, want)
	}

	ch, err = k.AddToWatchlist(ctx, "APT29", "evil.com", "hxxp://bad[.]example[.]com/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changed) != 1 || !reflect.DeepEqual(ch.Unchanged, []string{"evil.com"}) || ch.Members != 3 {
		t.Errorf("second add (other case of the name): %+v", ch)
	}

	members, err := k.Watchlist(ctx, "apt29")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, m.IOC)
	}
	if want := []string{"evil.com", "1.2.3.4", "http://bad.example.com/x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members = %q, want %q in order added", got, want)
	}
	if members[1].Type != ioc.IPv4 {
		t.Errorf("member type %q, want ipv4", members[1].Type)
	}

	if _, err := k.AddToWatchlist(ctx, "other", "1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	lists, err := k.Watchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 2 || lists[0].Name != "apt29" || lists[0].Members != 3 || lists[1].Name != "other" || lists[1].Members != 1 {
		t.Errorf("Watchlists = %+v", lists)
	}

	ch, err = k.RemoveFromWatchlist(ctx, "apt29", "1.2.3.4")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Members != 2 {
		t.Errorf("members after remove = %d, want 2", ch.Members)
	}

	if err := k.DeleteWatchlist(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Watchlist(ctx, "other"); !errors.Is(err, kb.ErrNotFound) {
		t.Errorf("deleted list: error %v, want ErrNotFound", err)
	}
	if _, err := k.Watchlist(ctx, "apt29"); err != nil {
		t.Errorf("deleting one list touched another: %v", err)
	}
}

func TestWatchlistEmptyListRemains(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.RemoveFromWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}
	members, err := k.Watchlist(ctx, "w")
	if err != nil || len(members) != 0 {
		t.Errorf("emptied list: members %v, error %v; want an empty list", members, err)
	}
}

func TestWatchlistBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"invalid ioc on add", func() error { _, err := k.AddToWatchlist(ctx, "w", "good.com", "999.1.1.1"); return err }, kb.ErrInvalid},
		{"invalid ioc creates no list", func() error { _, err := k.AddToWatchlist(ctx, "fresh", "nope"); return err }, kb.ErrInvalid},
		{"bad name", func() error { _, err := k.AddToWatchlist(ctx, "-x", "good.com"); return err }, kb.ErrInvalid},
		{"name with space", func() error { _, err := k.AddToWatchlist(ctx, "a b", "good.com"); return err }, kb.ErrInvalid},
		{"no iocs", func() error { _, err := k.AddToWatchlist(ctx, "w"); return err }, kb.ErrInvalid},
		{"remove non-member", func() error { _, err := k.RemoveFromWatchlist(ctx, "w", "evil.com", "good.com"); return err }, kb.ErrNotFound},
		{"remove from unknown list", func() error { _, err := k.RemoveFromWatchlist(ctx, "nope", "evil.com"); return err }, kb.ErrNotFound},
		{"delete unknown list", func() error { return k.DeleteWatchlist(ctx, "nope") }, kb.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			lists, err := k.Watchlists(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(lists) != 1 || lists[0].Name != "w" || lists[0].Members != 1 {
				t.Errorf("lists after failed call = %+v, want only w with 1 member", lists)
			}
		})
	}
}

func TestLocalMany(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddTags(ctx, "evil.com", "c2", "apt"); err != nil {
		t.Fatal(err)
	}
	note, err := k.AddNote(ctx, "evil.com", "from the phishing case")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddToWatchlist(ctx, "zeta", "evil.com", "1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddToWatchlist(ctx, "alpha", "evil.com"); err != nil {
		t.Fatal(err)
	}

	keys := []string{"evil.com", "EVIL.com", "1.2.3.4", "clean.example.com"}
	got, err := k.LocalMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := enrich.Local{Tags: []string{"apt", "c2"}, Notes: []enrich.Note{note}, Watchlists: []string{"alpha", "zeta"}}
	for _, key := range []string{"evil.com", "EVIL.com"} {
		if l := got[key]; !reflect.DeepEqual(l.Tags, want.Tags) || !reflect.DeepEqual(l.Watchlists, want.Watchlists) ||
			len(l.Notes) != 1 || l.Notes[0].ID != note.ID || l.Notes[0].Text != note.Text {
			t.Errorf("LocalMany[%q] = %+v, want %+v", key, l, want)
		}
	}
	if l := got["1.2.3.4"]; len(l.Tags) != 0 || !reflect.DeepEqual(l.Watchlists, []string{"zeta"}) {
		t.Errorf("LocalMany[1.2.3.4] = %+v, want watchlist zeta only", l)
	}
	if _, ok := got["clean.example.com"]; ok {
		t.Errorf("an IOC without data is in the map")
	}

	one, err := k.Local(ctx, "evil[.]com")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one.Tags, want.Tags) {
		t.Errorf("Local tags = %q, want %q", one.Tags, want.Tags)
	}

	if _, err := k.LocalMany(ctx, []string{"evil.com", "not valid"}); !errors.Is(err, kb.ErrInvalid) {
		t.Errorf("invalid key: error %v, want ErrInvalid", err)
	}
}

func TestLocalManyLargeBatch(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)

	// More keys than one IN (...) query takes, tagged on both sides of the
	// chunk boundary.
	var keys []string
	for i := range 1200 {
		keys = append(keys, "10."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+".1")
	}
	for _, i := range []int{0, 499, 500, 1199} {
		if _, err := k.AddTags(ctx, keys[i], "seen"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.LocalMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Errorf("LocalMany returned %d entries, want 4", len(got))
	}
	for _, i := range []int{0, 499, 500, 1199} {
		if len(got[keys[i]].Tags) != 1 {
			t.Errorf("key %s: tags %q, want [seen]", keys[i], got[keys[i]].Tags)
		}
	}
}

func TestVerdictHistory(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddToWatchlist(ctx, "apt", "evil.com"); err != nil {
		t.Fatal(err)
	}

	if _, ok, err := k.LastVerdict(ctx, "apt", "evil.com"); err != nil || ok {
		t.Fatalf("LastVerdict with no history = %v, %v; want false, nil", ok, err)
	}

	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clean := verdict.Stats{Harmless: 60, Undetected: 10}
	bad := verdict.Stats{Malicious: 5, Harmless: 55, Undetected: 10}
	if err := k.RecordVerdict(ctx, "apt", "evil.com", verdict.Clean, clean, t0); err != nil {
		t.Fatal(err)
	}
	if err := k.RecordVerdict(ctx, "APT", "EVIL.com", verdict.Malicious, bad, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// An older observation recorded late does not hide the newest one.
	if err := k.RecordVerdict(ctx, "apt", "evil.com", verdict.Suspicious, clean, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	rec, ok, err := k.LastVerdict(ctx, "apt", "evil[.]com")
	if err != nil || !ok {
		t.Fatalf("LastVerdict = %v, %v", ok, err)
	}
	if rec.Verdict != verdict.Malicious || rec.Stats != bad || !rec.At.Equal(t0.Add(time.Hour)) {
		t.Errorf("LastVerdict = %+v, want MALICIOUS %+v at %v", rec, bad, t0.Add(time.Hour))
	}
}

func TestVerdictHistoryPerWatchlist(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	for _, name := range []string{"apt", "fin"} {
		if _, err := k.AddToWatchlist(ctx, name, "evil.com"); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := k.RecordVerdict(ctx, "apt", "evil.com", verdict.Malicious, verdict.Stats{Malicious: 5}, t0); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := k.LastVerdict(ctx, "fin", "evil.com"); err != nil || ok {
		t.Errorf("other list's history = %+v, %v, %v; want none", rec, ok, err)
	}

	// A list deleted and created again under its name starts anew.
	if err := k.DeleteWatchlist(ctx, "apt"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddToWatchlist(ctx, "apt", "evil.com"); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := k.LastVerdict(ctx, "apt", "evil.com"); err != nil || ok {
		t.Errorf("recreated list's history = %+v, %v, %v; want none", rec, ok, err)
	}

	if _, _, err := k.LastVerdict(ctx, "nope", "evil.com"); !errors.Is(err, kb.ErrNoWatchlist) {
		t.Errorf("LastVerdict on an unknown list: error %v, want ErrNoWatchlist", err)
	}
	if err := k.RecordVerdict(ctx, "nope", "evil.com", verdict.Clean, verdict.Stats{}, t0); !errors.Is(err, kb.ErrNoWatchlist) {
		t.Errorf("RecordVerdict on an unknown list: error %v, want ErrNoWatchlist", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "kb.db")
	k, err := kb.Open(ctx, path, kb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddTags(ctx, "evil.com", "keep"); err != nil {
		t.Fatal(err)
	}
	k.Close()

	k2 := mustOpen(t, path)
	got, err := k2.Tags(ctx, "evil.com")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"keep"}) {
		t.Errorf("tags after reopen = %q", got)
	}
}

func TestConcurrentWritersInProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kb.db")
	a, b := mustOpen(t, path), mustOpen(t, path)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, k := range []*kb.KB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := k.AddToWatchlist(ctx, "shared", "10.0."+strconv.Itoa(w)+"."+strconv.Itoa(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	members, err := a.Watchlist(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 100 {
		t.Errorf("members = %d, want 100", len(members))
	}
}

func TestWatchlistNotFoundKinds(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}

	_, err := k.RemoveFromWatchlist(ctx, "nope", "evil.com")
	if !errors.Is(err, kb.ErrNoWatchlist) || !errors.Is(err, kb.ErrNotFound) {
		t.Errorf("unknown list: error %v, want ErrNoWatchlist and ErrNotFound", err)
	}
	_, err = k.RemoveFromWatchlist(ctx, "w", "other.com")
	if !errors.Is(err, kb.ErrNotFound) || errors.Is(err, kb.ErrNoWatchlist) {
		t.Errorf("non-member: error %v, want ErrNotFound only", err)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "case #7 ?50% done")
	path := filepath.Join(dir, "kb.db")
	k := mustOpen(t, path)
	if _, err := k.AddTags(ctx, "evil.com", "x"); err != nil {
		t.Fatal(err)
	}
	if k.Path() != path {
		t.Errorf("Path() = %q, want %q", k.Path(), path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the file was not created at the given path: %v", err)
	}
}

func TestWatchlistStoredName(t *testing.T) {
	ctx := context.Background()
	k := newKB(t)
	if _, err := k.AddToWatchlist(ctx, "apt29", "evil.com"); err != nil {
		t.Fatal(err)
	}
	ch, err := k.AddToWatchlist(ctx, "APT29", "1.2.3.4")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name != "apt29" {
		t.Errorf("AddToWatchlist name %q, want apt29", ch.Name)
	}
	ch, err = k.RemoveFromWatchlist(ctx, "Apt29", "1.2.3.4")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name != "apt29" {
		t.Errorf("RemoveFromWatchlist name %q, want apt29", ch.Name)
	}
	if name, err := k.WatchlistName(ctx, "APT29"); err != nil || name != "apt29" {
		t.Errorf("WatchlistName = %q, %v; want apt29", name, err)
	}
	if _, err := k.WatchlistName(ctx, "nope"); !errors.Is(err, kb.ErrNoWatchlist) {
		t.Errorf("WatchlistName of an unknown list: error %v, want ErrNoWatchlist", err)
	}
}

// A rejected note names the character and where it is, because invisible
// characters cannot be found by looking at the text.
func TestCleanNoteNamesCharacter(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"left-to-right mark", "evil\u200e.com seen", "U+200E at position 5"},
		{"bell on line 2", "first line\nsec\aond", "U+0007 at position 15 (line 2, column 4)"},
		{"byte order mark inside", "note \ufeffhere", "U+FEFF at position 6"},
		{"position in the text as given", "  a\u200b", "U+200B at position 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kb.CleanNote(tt.text)
			if !errors.Is(err, kb.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}
