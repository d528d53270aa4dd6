package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/core/cache"
)

func (a *app) newCacheClearCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cache-clear",
		Short: "Remove every cached VirusTotal result",
		Long: `Remove every cached VirusTotal result from the cache file (default
~/.vex/cache.db), so the next lookups go to the API.

The knowledge base (tags, notes, watchlists) lives in its own file and is
never touched. A cache file too corrupt to open is deleted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runCacheClear(cmd)
		},
	}
}

func (a *app) runCacheClear(cmd *cobra.Command) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	path := cfg.CachePath()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		_, err := fmt.Fprintf(a.io.Out, "removed 0 cache entries (no cache file at %s)\n", path)
		return err
	}

	store, err := cache.Open(cmd.Context(), path, cache.Options{Logger: a.logger})
	if errors.Is(err, cache.ErrCorrupt) {
		// Every entry is lost already; removing the file lets the next
		// run start a new cache instead of warning each time.
		if rerr := cache.RemoveFiles(path); rerr != nil {
			return fmt.Errorf("remove corrupt cache %s: %w", path, rerr)
		}
		_, err := fmt.Fprintf(a.io.Out, "removed the corrupt cache file %s\n", path)
		return err
	}
	if err != nil {
		return err
	}
	defer store.Close()

	n, err := store.Clear(cmd.Context())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.io.Out, "removed %d cache %s from %s\n", n, plural(n, "entry", "entries"), path)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
