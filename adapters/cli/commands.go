package cli

import "github.com/spf13/cobra"

// subcommands lists every vex subcommand. Each lives in its own file.
func (a *app) subcommands() []*cobra.Command {
	return []*cobra.Command{
		a.newVersionCmd(),
		a.newConfigCmd(),
		a.newCacheClearCmd(),
		a.newExtractCmd(),
		a.newTagCmd(),
		a.newNoteCmd(),
		a.newWatchlistCmd(),
		a.newTriageCmd(),
		a.newInvestigateCmd(),
		a.newServeCmd(),
	}
}
