package kb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
)

// Member is one indicator on a watchlist.
type Member struct {
	IOC   string    `json:"ioc"` // normalised
	Type  ioc.Type  `json:"type"`
	Added time.Time `json:"added"`
}

// WatchlistInfo describes one watchlist.
type WatchlistInfo struct {
	Name    string    `json:"name"`
	Members int       `json:"members"`
	Created time.Time `json:"created"`
}

// WatchlistChange reports what AddToWatchlist or RemoveFromWatchlist did.
type WatchlistChange struct {
	// Name is the list's name as created, whatever the case of the
	// name the caller gave.
	Name string `json:"watchlist"`
	// Changed lists the normalised indicators added or removed, in input
	// order without repeats.
	Changed []string `json:"changed"`
	// Unchanged lists indicators that were already members (on add).
	Unchanged []string `json:"unchanged,omitempty"`
	// Members is the size of the list afterwards.
	Members int `json:"members"`
}

var watchlistName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckWatchlistName reports ErrInvalid unless name is 1 to 64 letters,
// digits, dots, dashes or underscores, starting with a letter or digit.
// Names compare case-insensitively for ASCII letters.
func CheckWatchlistName(name string) error {
	if !watchlistName.MatchString(name) {
		return fmt.Errorf("watchlist name %q: use 1 to 64 letters, digits, '.', '-' or '_', starting with a letter or digit: %w", name, ErrInvalid)
	}
	return nil
}

// AddToWatchlist adds indicators to the named watchlist, creating the list
// when it does not exist. Indicators already on it are reported in
// Unchanged. Every input is checked first, so one invalid indicator is an
// error and nothing is added.
func (k *KB) AddToWatchlist(ctx context.Context, name string, inputs ...string) (WatchlistChange, error) {
	if err := CheckWatchlistName(name); err != nil {
		return WatchlistChange{}, err
	}
	iocs, err := parseAll(inputs)
	if err != nil {
		return WatchlistChange{}, err
	}

	ch := WatchlistChange{Name: name}
	err = k.write(ctx, "add to watchlist in", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if ch.Name, err = storedName(ctx, tx, listID); err != nil {
			return err
		}
		for _, v := range iocs {
			id, err := k.iocID(ctx, tx, v, true)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO watchlist_members (watchlist_id, ioc_id, added) VALUES (?, ?, ?)",
				listID, id, formatTime(k.now()))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				ch.Changed = append(ch.Changed, v.Value)
			} else {
				ch.Unchanged = append(ch.Unchanged, v.Value)
			}
		}
		ch.Members, err = memberCount(ctx, tx, listID)
		return err
	})
	if err != nil {
		return WatchlistChange{}, err
	}
	return ch, nil
}

// RemoveFromWatchlist removes indicators from the named watchlist. An
// unknown list is ErrNoWatchlist, an indicator that is not on it is
// ErrNotFound, and either way nothing is removed. A list left empty still
// exists; see DeleteWatchlist.
func (k *KB) RemoveFromWatchlist(ctx context.Context, name string, inputs ...string) (WatchlistChange, error) {
	if err := CheckWatchlistName(name); err != nil {
		return WatchlistChange{}, err
	}
	iocs, err := parseAll(inputs)
	if err != nil {
		return WatchlistChange{}, err
	}

	ch := WatchlistChange{Name: name}
	err = k.write(ctx, "remove from watchlist in", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, name, false)
		if err != nil {
			return err
		}
		if ch.Name, err = storedName(ctx, tx, listID); err != nil {
			return err
		}
		for _, v := range iocs {
			res, err := tx.ExecContext(ctx, `DELETE FROM watchlist_members
				WHERE watchlist_id = ? AND ioc_id = (SELECT id FROM iocs WHERE value = ?)`, listID, v.Value)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("remove %s from watchlist %q: not on the list: %w", v.Value, name, ErrNotFound)
			}
			ch.Changed = append(ch.Changed, v.Value)
		}
		ch.Members, err = memberCount(ctx, tx, listID)
		return err
	})
	if err != nil {
		return WatchlistChange{}, err
	}
	return ch, nil
}

// Watchlist returns the members of the named list in the order they were
// added. An unknown list is ErrNoWatchlist.
func (k *KB) Watchlist(ctx context.Context, name string) ([]Member, error) {
	if err := CheckWatchlistName(name); err != nil {
		return nil, err
	}
	var out []Member
	err := k.read(ctx, "read watchlist from", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, name, false)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT i.value, i.type, m.added FROM watchlist_members m
			JOIN iocs i ON i.id = m.ioc_id WHERE m.watchlist_id = ? ORDER BY m.rowid`, listID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Member
			var typ, added string
			if err := rows.Scan(&m.IOC, &typ, &added); err != nil {
				return err
			}
			m.Type = ioc.Type(typ)
			if m.Added, err = parseTime(added); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// WatchlistName returns the name of a list as it was created. Names compare
// case-insensitively, so APT29 finds the list created as apt29 and this
// returns "apt29". An unknown list is ErrNoWatchlist.
func (k *KB) WatchlistName(ctx context.Context, name string) (string, error) {
	if err := CheckWatchlistName(name); err != nil {
		return "", err
	}
	var stored string
	err := k.read(ctx, "read watchlist from", func(tx *sql.Tx) error {
		listID, err := k.watchlistID(ctx, tx, name, false)
		if err != nil {
			return err
		}
		stored, err = storedName(ctx, tx, listID)
		return err
	})
	return stored, err
}

// Watchlists returns every list with its member count, sorted by name.
func (k *KB) Watchlists(ctx context.Context) ([]WatchlistInfo, error) {
	var out []WatchlistInfo
	err := k.read(ctx, "list watchlists in", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT w.name, w.created, count(m.ioc_id) FROM watchlists w
			LEFT JOIN watchlist_members m ON m.watchlist_id = w.id
			GROUP BY w.id ORDER BY w.name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w WatchlistInfo
			var created string
			if err := rows.Scan(&w.Name, &created, &w.Members); err != nil {
				return err
			}
			if w.Created, err = parseTime(created); err != nil {
				return err
			}
			out = append(out, w)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteWatchlist deletes the named list. Its indicators keep their tags,
// notes and verdict history, but a list created later under the same name
// starts without a history, so its first run reports every member as new.
// An unknown list is ErrNoWatchlist.
func (k *KB) DeleteWatchlist(ctx context.Context, name string) error {
	if err := CheckWatchlistName(name); err != nil {
		return err
	}
	return k.write(ctx, "delete watchlist from", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM watchlists WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete watchlist: %w: %q", ErrNoWatchlist, name)
		}
		return nil
	})
}

// watchlistID returns the row of a list. Without create, an unknown list is
// ErrNoWatchlist.
func (k *KB) watchlistID(ctx context.Context, tx *sql.Tx, name string, create bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM watchlists WHERE name = ?", name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if !create {
		return 0, fmt.Errorf("%w: %q", ErrNoWatchlist, name)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO watchlists (name, created) VALUES (?, ?)", name, formatTime(k.now()))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func storedName(ctx context.Context, tx *sql.Tx, listID int64) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, "SELECT name FROM watchlists WHERE id = ?", listID).Scan(&name)
	return name, err
}

func memberCount(ctx context.Context, tx *sql.Tx, listID int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM watchlist_members WHERE watchlist_id = ?", listID).Scan(&n)
	return n, err
}

// parseAll normalises every input and drops repeats of the same indicator.
// The first invalid input is the error.
func parseAll(inputs []string) ([]ioc.IOC, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no IOCs given: %w", ErrInvalid)
	}
	out := make([]ioc.IOC, 0, len(inputs))
	seen := make(map[string]bool, len(inputs))
	for _, in := range inputs {
		v, err := parseIOC(in)
		if err != nil {
			return nil, err
		}
		if !seen[v.Value] {
			seen[v.Value] = true
			out = append(out, v)
		}
	}
	return out, nil
}
