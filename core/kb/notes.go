package kb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/enrich"
)

// MaxNoteLen is the longest note accepted, in characters.
const MaxNoteLen = 4000

// CleanNote trims a note and checks it: 1 to MaxNoteLen characters of
// printable text, where line breaks and tabs are allowed but other control
// characters are not, because notes are printed to terminals. A rejected
// character is named with its code point and its position in text as
// given, because invisible characters cannot be found by reading the note.
func CleanNote(text string) (string, error) {
	normalized := strings.ReplaceAll(text, "\r\n", "\n")
	t := strings.TrimSpace(normalized)
	switch {
	case t == "":
		return "", fmt.Errorf("empty note: %w", ErrInvalid)
	case !utf8.ValidString(t):
		return "", fmt.Errorf("note is not valid UTF-8: %w", ErrInvalid)
	case utf8.RuneCountInString(t) > MaxNoteLen:
		return "", fmt.Errorf("note is longer than %d characters: %w", MaxNoteLen, ErrInvalid)
	}
	if i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' && r != '\n' && r != '\t' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(t[i:])
		leading := len(normalized) - len(strings.TrimLeftFunc(normalized, unicode.IsSpace))
		return "", fmt.Errorf("note contains the control or invisible character %U at %s: remove it: %w",
			r, describePosition(normalized, leading+i), ErrInvalid)
	}
	return t, nil
}

// describePosition returns where byte offset at of text is, counted in
// characters from 1: "position 5", and for text of several lines also the
// line and column, e.g. "position 15 (line 2, column 4)".
func describePosition(text string, at int) string {
	pos := fmt.Sprintf("position %d", utf8.RuneCountInString(text[:at])+1)
	if !strings.Contains(text, "\n") {
		return pos
	}
	lineStart := strings.LastIndexByte(text[:at], '\n') + 1
	line := strings.Count(text[:at], "\n") + 1
	column := utf8.RuneCountInString(text[lineStart:at]) + 1
	return fmt.Sprintf("%s (line %d, column %d)", pos, line, column)
}

// AddNote stores a note on an indicator and returns it with its ID. IDs are
// never reused, even after a delete.
func (k *KB) AddNote(ctx context.Context, input, text string) (enrich.Note, error) {
	v, err := parseIOC(input)
	if err != nil {
		return enrich.Note{}, err
	}
	text, err = CleanNote(text)
	if err != nil {
		return enrich.Note{}, err
	}

	n := enrich.Note{Text: text, Created: k.now().UTC()}
	err = k.write(ctx, "add note to", func(tx *sql.Tx) error {
		id, err := k.iocID(ctx, tx, v, true)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO notes (ioc_id, text, created) VALUES (?, ?, ?)",
			id, text, formatTime(n.Created))
		if err != nil {
			return err
		}
		n.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return enrich.Note{}, err
	}
	return n, nil
}

// DeleteNote deletes note id from an indicator. A note that does not exist,
// or belongs to another indicator, is ErrNotFound and nothing changes.
func (k *KB) DeleteNote(ctx context.Context, input string, id int64) error {
	v, err := parseIOC(input)
	if err != nil {
		return err
	}
	return k.write(ctx, "delete note from", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM notes WHERE id = ? AND ioc_id = (SELECT id FROM iocs WHERE value = ?)", id, v.Value)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete note %d of %s: no such note on this IOC: %w", id, v.Value, ErrNotFound)
		}
		return nil
	})
}

// Notes returns the notes of one indicator, oldest first. An indicator
// without notes returns none and no error.
func (k *KB) Notes(ctx context.Context, input string) ([]enrich.Note, error) {
	v, err := parseIOC(input)
	if err != nil {
		return nil, err
	}
	var notes []enrich.Note
	err = k.read(ctx, "read notes from", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT n.id, n.text, n.created FROM notes n
			JOIN iocs i ON i.id = n.ioc_id WHERE i.value = ? ORDER BY n.id`, v.Value)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n enrich.Note
			var created string
			if err := rows.Scan(&n.ID, &n.Text, &created); err != nil {
				return err
			}
			if n.Created, err = parseTime(created); err != nil {
				return err
			}
			notes = append(notes, n)
		}
		return rows.Err()
	})
	return notes, err
}
