package kb

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/ioc"
)

// MaxTagLen is the longest tag accepted, in characters.
const MaxTagLen = 64

// TagEntry is one tag on one indicator, as ListTags returns it.
type TagEntry struct {
	IOC     string    `json:"ioc"` // normalised
	Type    ioc.Type  `json:"type"`
	Tag     string    `json:"tag"`
	Created time.Time `json:"created"`
}

// CleanTag trims a tag and checks it: it must be 1 to MaxTagLen characters
// of printable text. Tags compare case-insensitively for ASCII letters
// (SQLite's NOCASE), and the first spelling stored is kept.
func CleanTag(tag string) (string, error) {
	t := strings.TrimSpace(tag)
	switch {
	case t == "":
		return "", fmt.Errorf("empty tag: %w", ErrInvalid)
	case !utf8.ValidString(t):
		return "", fmt.Errorf("tag %q is not valid UTF-8: %w", t, ErrInvalid)
	case utf8.RuneCountInString(t) > MaxTagLen:
		return "", fmt.Errorf("tag %q is longer than %d characters: %w", t, MaxTagLen, ErrInvalid)
	case strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return "", fmt.Errorf("tag %q contains control or invisible characters: %w", t, ErrInvalid)
	}
	return t, nil
}

// UpdateTags adds and removes tags on one indicator in a single transaction
// and returns its tags afterwards, sorted. Adding a tag it already has is a
// no-op. Removing a tag it does not have is ErrNotFound. Any error, an
// invalid indicator or tag included, leaves the knowledge base unchanged.
func (k *KB) UpdateTags(ctx context.Context, input string, add, remove []string) ([]string, error) {
	v, err := parseIOC(input)
	if err != nil {
		return nil, err
	}
	add, err = cleanTags(add)
	if err != nil {
		return nil, err
	}
	remove, err = cleanTags(remove)
	if err != nil {
		return nil, err
	}

	var tags []string
	err = k.write(ctx, "update tags in", func(tx *sql.Tx) error {
		id, err := k.iocID(ctx, tx, v, len(add) > 0)
		if err != nil {
			return err
		}
		for _, t := range remove {
			res, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE ioc_id = ? AND tag = ?", id, t)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("remove tag %q from %s: the IOC has no such tag: %w", t, v.Value, ErrNotFound)
			}
		}
		for _, t := range add {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO tags (ioc_id, tag, created) VALUES (?, ?, ?)",
				id, t, formatTime(k.now())); err != nil {
				return err
			}
		}
		tags, err = tagsOf(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// AddTags adds tags to an indicator, as UpdateTags does.
func (k *KB) AddTags(ctx context.Context, input string, tags ...string) ([]string, error) {
	return k.UpdateTags(ctx, input, tags, nil)
}

// RemoveTags removes tags from an indicator, as UpdateTags does.
func (k *KB) RemoveTags(ctx context.Context, input string, tags ...string) ([]string, error) {
	return k.UpdateTags(ctx, input, nil, tags)
}

// Tags returns the tags of one indicator, sorted case-insensitively. An
// indicator without tags returns none and no error.
func (k *KB) Tags(ctx context.Context, input string) ([]string, error) {
	v, err := parseIOC(input)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = k.read(ctx, "read tags from", func(tx *sql.Tx) error {
		id, err := k.iocID(ctx, tx, v, false)
		if err != nil || id == 0 {
			return err
		}
		tags, err = tagsOf(ctx, tx, id)
		return err
	})
	return tags, err
}

// ListTags returns every tag on every indicator, ordered by indicator and
// then tag.
func (k *KB) ListTags(ctx context.Context) ([]TagEntry, error) {
	var out []TagEntry
	err := k.read(ctx, "list tags in", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT i.value, i.type, t.tag, t.created
			FROM tags t JOIN iocs i ON i.id = t.ioc_id
			ORDER BY i.value, t.tag`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e TagEntry
			var typ, created string
			if err := rows.Scan(&e.IOC, &typ, &e.Tag, &created); err != nil {
				return err
			}
			e.Type = ioc.Type(typ)
			if e.Created, err = parseTime(created); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

func tagsOf(ctx context.Context, tx *sql.Tx, iocID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT tag FROM tags WHERE ioc_id = ? ORDER BY tag", iocID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tags []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

// cleanTags checks every tag and drops case-insensitive repeats.
func cleanTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		c, err := CleanTag(t)
		if err != nil {
			return nil, err
		}
		if key := asciiLower(c); !seen[key] {
			seen[key] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

// asciiLower folds only A-Z, matching SQLite's NOCASE collation.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
