package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/report"
)

// The knowledge-base commands: vex tag, vex note and vex watchlist. They
// work on the local kb.db only, except watchlist --run, which re-triages.

// kbOutput is the -o flag of the knowledge-base commands.
type kbOutput struct{ format string }

func (o *kbOutput) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "console", "output `FORMAT`: console or json")
}

func (o *kbOutput) json() (bool, error) {
	switch o.format {
	case "json":
		return true, nil
	case "console", "rich", "text":
		return false, nil
	}
	return false, usageErr("invalid output format %q: use console or json", o.format)
}

// openKBForCommand opens the knowledge base in the configured data
// directory. Unlike openKB, which lets a lookup go on without it, a failure
// here is the command's error.
func (a *app) openKBForCommand(ctx context.Context) (*kb.KB, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	k, err := kb.Open(ctx, cfg.KBPath(), kb.Options{Now: a.env.Now})
	if err != nil {
		return nil, kbErr(err)
	}
	return k, nil
}

// kbErr maps knowledge-base errors to exit codes: bad input is a usage
// error, and a file vex cannot read or write is an I/O error (74) with a
// hint. It is not a configuration error (78), because cron wrappers read
// 78 as "fix the API key or the config".
func kbErr(err error) error {
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.Is(err, kb.ErrInvalid), errors.Is(err, kb.ErrNotFound):
		return &ExitError{Code: ExitUsage, Err: err}
	case errors.Is(err, kb.ErrReadOnly):
		return &ExitError{Code: ExitIOError, Err: err, Hint: "make kb.db and its folder writable by this user, or point cache.data_dir elsewhere"}
	case errors.Is(err, kb.ErrCorrupt):
		return &ExitError{Code: ExitIOError, Err: err, Hint: "vex left the file as it was; restore kb.db from a backup, or move it aside to start an empty knowledge base"}
	case errors.Is(err, kb.ErrForeign):
		return &ExitError{Code: ExitIOError, Err: err, Hint: "vex left the file as it was; check cache.data_dir, or move the file aside to start an empty knowledge base"}
	case errors.Is(err, kb.ErrTooNew):
		return &ExitError{Code: ExitIOError, Err: err, Hint: "a newer vex wrote this file; upgrade vex to use it"}
	}
	return err
}

// parseIOCArg checks an IOC argument before the knowledge base is opened,
// so bad input fails fast and never creates the file.
func parseIOCArg(s string) (ioc.IOC, error) {
	v, err := ioc.Parse(s)
	if err != nil {
		return ioc.IOC{}, &ExitError{Code: ExitUsage, Err: err}
	}
	return v, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) newTagCmd() *cobra.Command {
	var (
		add, remove []string
		all, list   bool
		out         kbOutput
	)
	cmd := &cobra.Command{
		Use:   "tag IOC [--add TAG]... [--remove TAG]... [--list]",
		Short: "Add, remove or list your own tags on an IOC",
		Long: `Add, remove or list your own tags on an IOC. Tags live in the local
knowledge base (kb.db in the data directory) and appear in every triage and
investigate result for that IOC.

The IOC may be defanged and in any case: evil[.]com, EVIL.com and evil.com.
are the same IOC. Tags are 1 to 64 printable characters; APT29 and apt29 are
the same tag, and the first spelling is kept. With no --add or --remove (or
with --list), the command lists the IOC's tags. All changes of one command apply together or,
on any error, not at all. Removing a tag the IOC does not have is an error.`,
		Example: `  vex tag evil[.]com --add phishing --add "APT29"
  vex tag evil.com --remove phishing
  vex tag evil.com                  # list, one tag per line
  vex tag evil.com -o json
  vex tag --all                     # every tagged IOC`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				if len(args) > 0 || len(add) > 0 || len(remove) > 0 {
					return usageErr("--all lists every tag and takes no IOC, --add or --remove")
				}
				return nil
			}
			if len(args) != 1 {
				return usageErr("tag needs exactly one IOC (or --all), got %d arguments", len(args))
			}
			if list && (len(add) > 0 || len(remove) > 0) {
				return usageErr("--list cannot be combined with --add or --remove")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := out.json()
			if err != nil {
				return err
			}
			if all {
				return a.listAllTags(cmd.Context(), asJSON)
			}
			return a.updateTags(cmd.Context(), args[0], add, remove, asJSON)
		},
	}
	cmd.Flags().StringArrayVar(&add, "add", nil, "add `TAG` (repeatable)")
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "remove `TAG` (repeatable)")
	cmd.Flags().BoolVar(&all, "all", false, "list every tagged IOC with its tags")
	cmd.Flags().BoolVar(&list, "list", false, "list the IOC's tags (the default with no other flag)")
	out.register(cmd)
	return cmd
}

func (a *app) updateTags(ctx context.Context, input string, add, remove []string, asJSON bool) error {
	v, err := parseIOCArg(input)
	if err != nil {
		return err
	}
	for _, t := range append(append([]string{}, add...), remove...) {
		if _, err := kb.CleanTag(t); err != nil {
			return kbErr(err)
		}
	}
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	var tags []string
	if len(add) > 0 || len(remove) > 0 {
		tags, err = k.UpdateTags(ctx, v.Value, add, remove)
	} else {
		tags, err = k.Tags(ctx, v.Value)
	}
	if err != nil {
		return kbErr(err)
	}

	if asJSON {
		return writeJSON(a.io.Out, struct {
			IOC  string   `json:"ioc"`
			Type ioc.Type `json:"type"`
			Tags []string `json:"tags"`
		}{v.Value, v.Type, nonNil(tags)})
	}
	if len(tags) == 0 {
		fmt.Fprintf(a.io.Err, "%s has no tags\n", v.Value)
	}
	for _, t := range tags {
		if _, err := fmt.Fprintln(a.io.Out, report.Sanitize(t)); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) listAllTags(ctx context.Context, asJSON bool) error {
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()
	entries, err := k.ListTags(ctx)
	if err != nil {
		return kbErr(err)
	}

	// Group the flat rows by IOC. ListTags returns them sorted by IOC, so
	// each group is one run of rows.
	type tagged struct {
		IOC  string   `json:"ioc"`
		Type ioc.Type `json:"type"`
		Tags []string `json:"tags"`
	}
	groups := []tagged{}
	for _, e := range entries {
		if n := len(groups); n > 0 && groups[n-1].IOC == e.IOC {
			groups[n-1].Tags = append(groups[n-1].Tags, e.Tag)
			continue
		}
		groups = append(groups, tagged{IOC: e.IOC, Type: e.Type, Tags: []string{e.Tag}})
	}

	if asJSON {
		return writeJSON(a.io.Out, groups)
	}
	tw := tabwriter.NewWriter(a.io.Out, 0, 4, 2, ' ', 0)
	for _, g := range groups {
		for i, t := range g.Tags {
			g.Tags[i] = report.Sanitize(t)
		}
		fmt.Fprintf(tw, "%s\t%s\n", g.IOC, strings.Join(g.Tags, ", "))
	}
	return tw.Flush()
}

func (a *app) newNoteCmd() *cobra.Command {
	var (
		add  string
		del  int64
		list bool
		out  kbOutput
	)
	cmd := &cobra.Command{
		Use:   "note IOC [--add TEXT | --delete ID | --list]",
		Short: "Add, delete or list your own notes on an IOC",
		Long: `Add, delete or list free-text notes on an IOC. Notes live in the local
knowledge base (kb.db in the data directory) and appear in every triage and
investigate result for that IOC.

The IOC may be defanged and in any case. A note is up to 4000 characters;
line breaks are kept. "--add -" reads the note from stdin. Each note gets a number (ID) that --delete takes; IDs
are never reused. With neither flag (or with --list), the command lists the
notes, oldest first. --add prints the new note with its ID.`,
		Example: `  vex note evil[.]com --add "C2 for the March phishing wave, ticket IR-2291"
  vex note evil.com                 # list: ID, time (UTC), text
  vex note evil.com --add - < findings.txt
  vex note evil.com --delete 3
  vex note evil.com -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("note needs exactly one IOC, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := out.json()
			if err != nil {
				return err
			}
			addSet := cmd.Flags().Changed("add")
			delSet := cmd.Flags().Changed("delete")
			if addSet && delSet {
				return usageErr("use --add or --delete, not both")
			}
			if list && (addSet || delSet) {
				return usageErr("--list cannot be combined with --add or --delete")
			}
			switch {
			case addSet:
				return a.addNote(cmd.Context(), args[0], add, asJSON)
			case delSet:
				return a.deleteNote(cmd.Context(), args[0], del, asJSON)
			}
			return a.listNotes(cmd.Context(), args[0], asJSON)
		},
	}
	cmd.Flags().StringVar(&add, "add", "", "add a note with `TEXT`")
	cmd.Flags().Int64Var(&del, "delete", 0, "delete the note numbered `ID`")
	cmd.Flags().BoolVar(&list, "list", false, "list the notes (the default with no other flag)")
	out.register(cmd)
	return cmd
}

type noteJSON struct {
	IOC  string   `json:"ioc"`
	Type ioc.Type `json:"type"`
	enrich.Note
}

func (a *app) addNote(ctx context.Context, input, text string, asJSON bool) error {
	v, err := parseIOCArg(input)
	if err != nil {
		return err
	}
	if text == "-" {
		if text, err = a.readNote(); err != nil {
			return err
		}
	}
	if _, err := kb.CleanNote(text); err != nil {
		return kbErr(err)
	}
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	n, err := k.AddNote(ctx, v.Value, text)
	if err != nil {
		return kbErr(err)
	}
	if asJSON {
		return writeJSON(a.io.Out, noteJSON{v.Value, v.Type, n})
	}
	return printNote(a.io.Out, n)
}

// maxNoteInput bounds what --add - reads from stdin. It is well above the
// longest note in bytes (kb.MaxNoteLen characters of up to 4 bytes each),
// so a longer input gets the "too long" error rather than a silent cut.
const maxNoteInput = 4*kb.MaxNoteLen + 1

// readNote reads the text of --add - from stdin.
func (a *app) readNote() (string, error) {
	if a.io.In == nil {
		return "", usageErr("--add - reads the note from stdin, but there is no stdin")
	}
	b, err := io.ReadAll(io.LimitReader(a.io.In, maxNoteInput))
	if err != nil {
		return "", fmt.Errorf("read note from stdin: %w", err)
	}
	// Many Windows editors start UTF-8 files with a byte order mark. It is
	// not part of the note, and triage -f drops it too.
	return strings.TrimPrefix(string(b), "\ufeff"), nil
}

func (a *app) deleteNote(ctx context.Context, input string, id int64, asJSON bool) error {
	v, err := parseIOCArg(input)
	if err != nil {
		return err
	}
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	if err := k.DeleteNote(ctx, v.Value, id); err != nil {
		return &ExitError{Code: ExitUsage, Err: err, Hint: "list the notes and their IDs with: vex note " + v.Value}
	}
	if asJSON {
		return writeJSON(a.io.Out, struct {
			IOC     string `json:"ioc"`
			Deleted int64  `json:"deleted"`
		}{v.Value, id})
	}
	fmt.Fprintf(a.io.Err, "deleted note %d of %s\n", id, v.Value)
	return nil
}

func (a *app) listNotes(ctx context.Context, input string, asJSON bool) error {
	v, err := parseIOCArg(input)
	if err != nil {
		return err
	}
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	notes, err := k.Notes(ctx, v.Value)
	if err != nil {
		return kbErr(err)
	}
	if asJSON {
		return writeJSON(a.io.Out, struct {
			IOC   string        `json:"ioc"`
			Type  ioc.Type      `json:"type"`
			Notes []enrich.Note `json:"notes"`
		}{v.Value, v.Type, nonNil(notes)})
	}
	if len(notes) == 0 {
		fmt.Fprintf(a.io.Err, "%s has no notes\n", v.Value)
	}
	for _, n := range notes {
		if err := printNote(a.io.Out, n); err != nil {
			return err
		}
	}
	return nil
}

// printNote writes "ID<TAB>time<TAB>text", with the later lines of a
// multi-line note indented by a tab so every record starts with its ID.
func printNote(w io.Writer, n enrich.Note) error {
	lines := strings.Split(n.Text, "\n")
	for i, l := range lines {
		lines[i] = report.Sanitize(l)
	}
	_, err := fmt.Fprintf(w, "%d\t%s\t%s\n", n.ID, n.Created.UTC().Format("2006-01-02T15:04:05Z"), strings.Join(lines, "\n\t"))
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
