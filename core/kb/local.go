package kb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// VerdictRecord is one verdict stored by RecordVerdict.
type VerdictRecord struct {
	Verdict verdict.Verdict `json:"verdict"`
	Stats   verdict.Stats   `json:"stats"`
	At      time.Time       `json:"at"`
}

// RecordVerdict appends a verdict to the history that the named watchlist
// keeps for an indicator. at is when the verdict was observed, and
// LastVerdict returns the record with the latest at. Each list has its own
// history, so one list's run never changes what another list compares
// with. An unknown list is ErrNoWatchlist.
func (k *KB) RecordVerdict(ctx context.Context, watchlist, key string, v verdict.Verdict, stats verdict.Stats, at time.Time) error {
	if err := CheckWatchlistName(watchlist); err != nil {
		return err
	}
	i, err := parseIOC(key)
	if err != nil {
		return err
	}
	body, err := json.Marshal(stats)
	if err != nil {
		return fmt.Errorf("record verdict of %s: encode stats: %w", i.Value, err)
	}
	return k.write(ctx, "record verdict in", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, watchlist, false)
		if err != nil {
			return fmt.Errorf("record verdict of %s: %w", i.Value, err)
		}
		id, err := k.iocID(ctx, tx, i, true)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO verdicts (ioc_id, watchlist_id, verdict, stats, at) VALUES (?, ?, ?, ?, ?)",
			id, listID, v.String(), string(body), formatTime(at))
		return err
	})
}

// LastVerdict returns the latest verdict that the named watchlist recorded
// for an indicator, and false when that list never recorded one, even if
// another list did. An unknown list is ErrNoWatchlist.
func (k *KB) LastVerdict(ctx context.Context, watchlist, key string) (VerdictRecord, bool, error) {
	if err := CheckWatchlistName(watchlist); err != nil {
		return VerdictRecord{}, false, err
	}
	i, err := parseIOC(key)
	if err != nil {
		return VerdictRecord{}, false, err
	}
	var rec VerdictRecord
	found := false
	err = k.read(ctx, "read verdict from", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, watchlist, false)
		if err != nil {
			return fmt.Errorf("read verdict of %s: %w", i.Value, err)
		}
		var name, stats, at string
		err = tx.QueryRowContext(ctx, `SELECT v.verdict, v.stats, v.at FROM verdicts v
			JOIN iocs i ON i.id = v.ioc_id WHERE v.watchlist_id = ? AND i.value = ?
			ORDER BY v.at DESC, v.id DESC LIMIT 1`, listID, i.Value).Scan(&name, &stats, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		rec.Verdict, _ = verdict.Parse(name)
		if err := json.Unmarshal([]byte(stats), &rec.Stats); err != nil {
			return fmt.Errorf("stored stats of %s: %w", i.Value, err)
		}
		rec.At, err = parseTime(at)
		return err
	})
	if err != nil {
		return VerdictRecord{}, false, err
	}
	return rec, found, nil
}

// The engine reads the knowledge base of many lookups at once through it.
var _ enrich.LocalBatchStore = (*KB)(nil)

// Local returns the tags, notes and watchlists of one indicator. An
// indicator the knowledge base has never seen has an empty Local.
func (k *KB) Local(ctx context.Context, key string) (enrich.Local, error) {
	m, err := k.LocalMany(ctx, []string{key})
	if err != nil {
		return enrich.Local{}, err
	}
	return m[key], nil
}

// lookupChunk bounds the number of ? placeholders in one IN (...) query. It
// stays under SQLite's limit on host parameters, which defaults to 32766
// since SQLite 3.32.0 and was 999 before.
const lookupChunk = 500

// LocalMany returns the knowledge-base data of many indicators in a few
// queries, keyed by the strings in keys as given. Keys are normally
// normalised values (enrich.Result.Normalized); any other form of a valid
// indicator works too. Keys without data are absent from the map, and an
// invalid key is an error.
func (k *KB) LocalMany(ctx context.Context, keys []string) (map[string]enrich.Local, error) {
	// Several keys may normalise to one indicator, e.g. EVIL.com and evil.com.
	byValue := make(map[string][]string, len(keys))
	values := make([]string, 0, len(keys))
	for _, key := range keys {
		v, err := parseIOC(key)
		if err != nil {
			return nil, err
		}
		if _, ok := byValue[v.Value]; !ok {
			values = append(values, v.Value)
		}
		byValue[v.Value] = append(byValue[v.Value], key)
	}

	found := make(map[string]*enrich.Local)
	err := k.read(ctx, "read local data from", func(tx *sql.Tx) error {
		for start := 0; start < len(values); start += lookupChunk {
			chunk := values[start:min(start+lookupChunk, len(values))]
			if err := loadLocal(ctx, tx, chunk, found); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	out := make(map[string]enrich.Local, len(found))
	for value, l := range found {
		for _, key := range byValue[value] {
			out[key] = *l
		}
	}
	return out, nil
}

// loadLocal fills found with the tags, notes and watchlists of values.
func loadLocal(ctx context.Context, tx *sql.Tx, values []string, found map[string]*enrich.Local) error {
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(values)), ",") + ")"
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	entry := func(value string) *enrich.Local {
		l := found[value]
		if l == nil {
			l = &enrich.Local{}
			found[value] = l
		}
		return l
	}

	err := eachRow(ctx, tx, `SELECT i.value, t.tag FROM tags t JOIN iocs i ON i.id = t.ioc_id
		WHERE i.value IN `+in+` ORDER BY i.value, t.tag`, args, func(rows *sql.Rows) error {
		var value, tag string
		if err := rows.Scan(&value, &tag); err != nil {
			return err
		}
		l := entry(value)
		l.Tags = append(l.Tags, tag)
		return nil
	})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT i.value, n.id, n.text, n.created FROM notes n JOIN iocs i ON i.id = n.ioc_id
		WHERE i.value IN `+in+` ORDER BY n.id`, args, func(rows *sql.Rows) error {
		var value, created string
		var n enrich.Note
		if err := rows.Scan(&value, &n.ID, &n.Text, &created); err != nil {
			return err
		}
		var err error
		if n.Created, err = parseTime(created); err != nil {
			return err
		}
		l := entry(value)
		l.Notes = append(l.Notes, n)
		return nil
	})
	if err != nil {
		return err
	}

	return eachRow(ctx, tx, `SELECT i.value, w.name FROM watchlist_members m
		JOIN iocs i ON i.id = m.ioc_id JOIN watchlists w ON w.id = m.watchlist_id
		WHERE i.value IN `+in+` ORDER BY i.value, w.name`, args, func(rows *sql.Rows) error {
		var value, name string
		if err := rows.Scan(&value, &name); err != nil {
			return err
		}
		l := entry(value)
		l.Watchlists = append(l.Watchlists, name)
		return nil
	})
}

func eachRow(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
