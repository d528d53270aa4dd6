package osquery

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/vex-ioc/vex/core/kb"
)

// KnowledgeBase is the read side of the knowledge base that vex_tags and
// vex_watchlist list. *kb.KB implements it.
type KnowledgeBase interface {
	ListTags(ctx context.Context) ([]kb.TagEntry, error)
	Watchlists(ctx context.Context) ([]kb.WatchlistInfo, error)
	Watchlist(ctx context.Context, name string) ([]kb.Member, error)
}

// TagsColumns returns the columns of vex_tags.
func TagsColumns() []table.ColumnDefinition {
	return []table.ColumnDefinition{
		table.TextColumn("ioc", table.ColumnDescription("the normalised IOC, e.g. evil.com for EVIL[.]com")),
		table.TextColumn("ioc_type"),
		table.TextColumn("tag"),
		table.BigIntColumn("created", table.ColumnDescription("unix time the tag was added")),
		table.TextColumn("error", table.ColumnDescription("set on a single row when the knowledge base could not be read")),
	}
}

// WatchlistColumns returns the columns of vex_watchlist.
func WatchlistColumns() []table.ColumnDefinition {
	return []table.ColumnDefinition{
		table.TextColumn("watchlist", table.IndexColumn()),
		table.TextColumn("ioc", table.ColumnDescription("the normalised IOC")),
		table.TextColumn("ioc_type"),
		table.BigIntColumn("added", table.ColumnDescription("unix time the IOC was added to the list")),
		table.TextColumn("error", table.ColumnDescription("set on a single row when the knowledge base could not be read")),
	}
}

// newTags builds vex_tags: every tag of every IOC, read from the local
// knowledge base without any network request.
func newTags(k KnowledgeBase, s Settings, stop context.Context, logger *slog.Logger) *tablePlugin {
	return &tablePlugin{
		name: "vex_tags", columns: TagsColumns(), stop: stop, logger: logger,
		generate: func(ctx context.Context, _ QueryContext) []map[string]string {
			ctx, cancel := context.WithTimeout(ctx, s.Timeout)
			defer cancel()
			entries, err := k.ListTags(ctx)
			if err != nil {
				logger.ErrorContext(ctx, "list knowledge base tags", "table", "vex_tags", "error", err)
				return []map[string]string{{"error": "read knowledge base tags: " + err.Error()}}
			}
			rows := make([]map[string]string, 0, len(entries))
			for _, e := range entries {
				rows = append(rows, map[string]string{
					"ioc": e.IOC, "ioc_type": string(e.Type), "tag": e.Tag, "created": unixString(e.Created.Unix()),
				})
			}
			return rows
		},
	}
}

// newWatchlist builds vex_watchlist: one row per member of each list. With
// `watchlist = 'name'` only the named lists are read.
func newWatchlist(k KnowledgeBase, s Settings, stop context.Context, logger *slog.Logger) *tablePlugin {
	return &tablePlugin{
		name: "vex_watchlist", columns: WatchlistColumns(), stop: stop, logger: logger,
		generate: func(ctx context.Context, qc QueryContext) []map[string]string {
			ctx, cancel := context.WithTimeout(ctx, s.Timeout)
			defer cancel()

			names := qc.Values("watchlist")
			if len(names) == 0 || len(qc.Other("watchlist")) > 0 {
				lists, err := k.Watchlists(ctx)
				if err != nil {
					logger.ErrorContext(ctx, "list watchlists", "table", "vex_watchlist", "error", err)
					return []map[string]string{{"error": "read watchlists: " + err.Error()}}
				}
				names = names[:0]
				for _, l := range lists {
					names = append(names, l.Name)
				}
			}

			var rows []map[string]string
			for _, name := range names {
				members, err := k.Watchlist(ctx, name)
				if errors.Is(err, kb.ErrNotFound) {
					continue
				}
				if err != nil {
					logger.ErrorContext(ctx, "read watchlist", "table", "vex_watchlist", "error", err)
					rows = append(rows, map[string]string{"watchlist": name, "error": "read watchlist: " + err.Error()})
					continue
				}
				for _, m := range members {
					rows = append(rows, map[string]string{
						"watchlist": name, "ioc": m.IOC, "ioc_type": string(m.Type), "added": unixString(m.Added.Unix()),
					})
				}
			}
			return rows
		},
	}
}

func unixString(sec int64) string { return strconv.FormatInt(sec, 10) }
