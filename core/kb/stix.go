package kb

import (
	"context"
	"database/sql"
	"time"
)

// STIXCreated returns the created time to use for each STIX object id in
// proposed: the time recorded when the object was first exported, or, for
// an id exported for the first time, its proposed time, which is recorded.
// One transaction covers all ids, so two exports running at once agree.
func (k *KB) STIXCreated(ctx context.Context, proposed map[string]time.Time) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(proposed))
	err := k.write(ctx, "record STIX created times", func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO stix_created (id, created_ms) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer ins.Close()
		sel, err := tx.PrepareContext(ctx, "SELECT created_ms FROM stix_created WHERE id = ?")
		if err != nil {
			return err
		}
		defer sel.Close()
		for id, t := range proposed {
			if _, err := ins.ExecContext(ctx, id, t.UnixMilli()); err != nil {
				return err
			}
			var ms int64
			if err := sel.QueryRowContext(ctx, id).Scan(&ms); err != nil {
				return err
			}
			out[id] = time.UnixMilli(ms).UTC()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
