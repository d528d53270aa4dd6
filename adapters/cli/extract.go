package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/core/ioc"
)

// extractOptions are the flags of vex extract.
type extractOptions struct {
	output  string
	types   []string
	defang  bool
	count   bool
	all     bool
	invalid bool
	// maxLineBytes bounds one input line; 0 keeps ioc.DefaultMaxLineBytes.
	maxLineBytes int
}

func (a *app) newExtractCmd() *cobra.Command {
	var o extractOptions
	cmd := &cobra.Command{
		Use:   "extract [FILE...]",
		Short: "Find indicators of compromise in free text",
		Long: `Find file hashes, IP addresses, domains and URLs in reports, logs, emails,
CSV exports and Markdown or AsciiDoc tables, defanged or not. Reads each FILE,
or standard input when there is none or FILE is "-". Prints each distinct
indicator once, in the order first seen, normalised (lowercase hashes and
hosts, punycode domains, compressed IPv6). Nothing is sent over the network.

Terminal colour codes are removed first. Quoted-printable e-mail text is
decoded (soft line breaks joined, =3D read as =) from the first line that ends
in a soft line break and contains an =XX escape, or from a
"Content-Transfer-Encoding: quoted-printable" header.

A URL's host is not listed again as a domain unless --all is given. Candidates
that look like indicators but are not valid (a 65-character hex run, an octet
above 255, leading zeros) are listed only with --invalid, with the reason.

Output formats (-o):
  console  type, value and flags, one per line (default)
  ndjson   one JSON object per line: ioc (as found), type, normalized,
           defanged, flags, line, and file when several files are read
  json     the same objects in one JSON array
  csv      the same fields with a header row; cells that start with
           = + - @ tab or CR get a leading ' so spreadsheets do not run them`,
		Example: `  vex extract report.txt
  vex extract -o ndjson --type sha256,domain *.csv
  pbpaste | vex extract --defang
  vex extract --count --invalid iocs.csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExtract(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "console", "output format: console, ndjson, json or csv")
	f.StringSliceVarP(&o.types, "type", "t", nil, "only these types, repeatable or comma-separated: md5, sha1, sha256, ipv4, ipv6, domain, url, or hash and ip for groups")
	f.BoolVar(&o.defang, "defang", false, "print every value defanged (hxxps, [.]) so it is safe to paste in mail or chat")
	f.BoolVar(&o.count, "count", false, "print only the number of indicators per type")
	f.BoolVar(&o.all, "all", false, "also list the host of every URL as a domain or IP address")
	f.BoolVar(&o.invalid, "invalid", false, "also list invalid candidates with the reason")
	f.IntVar(&o.maxLineBytes, "max-line-bytes", ioc.DefaultMaxLineBytes, "longest input line in bytes, end of line included; a longer line stops extraction with an error naming it")
	return cmd
}

// extractRecord is one output row of vex extract.
type extractRecord struct {
	IOC        string     `json:"ioc"`
	Type       string     `json:"type"`
	Normalized string     `json:"normalized,omitempty"`
	Defanged   string     `json:"defanged,omitempty"`
	Flags      []ioc.Flag `json:"flags"`
	Reason     string     `json:"reason,omitempty"`
	Line       int        `json:"line"`
	File       string     `json:"file,omitempty"`
}

func (a *app) runExtract(ctx context.Context, o extractOptions, args []string) error {
	types, err := parseTypeFlags(o.types)
	if err != nil {
		return err
	}
	if o.maxLineBytes < 1 {
		return usageErr("invalid --max-line-bytes %d: give a number of bytes above 0", o.maxLineBytes)
	}

	// One write per record would make output cost more than extraction.
	out := bufio.NewWriterSize(a.io.Out, 64<<10)
	w, err := newExtractWriter(o.output, out, o.invalid)
	if err != nil {
		return err
	}
	err = a.extractAll(ctx, o, types, args, w)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return err
}

// extractAll runs extraction over every input and writes the records.
func (a *app) extractAll(ctx context.Context, o extractOptions, types []ioc.Type, args []string, w *extractWriter) error {
	if len(args) == 0 {
		args = []string{"-"}
	}
	opt := ioc.ExtractOptions{All: o.all, Invalid: o.invalid, Types: types, MaxLineBytes: o.maxLineBytes}

	// ioc.Extract reports each valid value once per input. With several
	// inputs, seen makes the output distinct across them too. Invalid
	// candidates always go through invalidSeen, because Extract removes
	// their duplicates before it maps each back to the text as found, and
	// two candidates may come out as the same text.
	var seen map[extractKey]struct{}
	if len(args) > 1 {
		seen = map[extractKey]struct{}{}
	}
	invalidSeen := map[string]struct{}{}
	counts := map[string]int{}
	for _, name := range args {
		fileField := ""
		if len(args) > 1 {
			fileField = name
		}
		emit := func(m ioc.Match) error {
			if !firstSeen(m, seen, invalidSeen) {
				return nil
			}
			if o.count {
				counts[matchType(m)]++
				return nil
			}
			rec := recordFor(m, o.defang, w.format != "console", fileField)
			counts[rec.Type]++
			return w.write(rec)
		}
		if err := a.extractFile(ctx, name, opt, emit); err != nil {
			return err
		}
	}

	if o.count {
		return w.writeCounts(counts)
	}
	return w.close()
}

// extractKey identifies a valid indicator across inputs.
type extractKey struct {
	typ   ioc.Type
	value string
}

// firstSeen reports whether m is the first report of its value. A nil seen
// trusts ioc.Extract to report each valid value once.
func firstSeen(m ioc.Match, seen map[extractKey]struct{}, invalidSeen map[string]struct{}) bool {
	if m.Invalid != nil {
		if _, dup := invalidSeen[m.Invalid.Input]; dup {
			return false
		}
		invalidSeen[m.Invalid.Input] = struct{}{}
		return true
	}
	if seen == nil {
		return true
	}
	k := extractKey{m.IOC.Type, m.IOC.Value}
	if _, dup := seen[k]; dup {
		return false
	}
	seen[k] = struct{}{}
	return true
}

// matchType returns the type column of a match, which is its indicator
// type or "invalid".
func matchType(m ioc.Match) string {
	if m.Invalid != nil {
		return "invalid"
	}
	return string(m.IOC.Type)
}

// extractFile runs extraction over one named file, "-" being stdin.
func (a *app) extractFile(ctx context.Context, name string, opt ioc.ExtractOptions, emit func(ioc.Match) error) error {
	var r io.Reader = a.io.In
	label := "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		r, label = f, name
	}
	if r == nil {
		return usageErr("no input: give a FILE or pipe text to standard input")
	}
	if err := ioc.Extract(ctxReader{ctx, textOf(r)}, opt, emit); err != nil {
		var tooLong *ioc.LineTooLongError
		if errors.As(err, &tooLong) {
			tooLong.Option = "--max-line-bytes"
		}
		return fmt.Errorf("extract from %s: %w", label, err)
	}
	return nil
}

// ctxReader stops a long extraction when the context is cancelled (Ctrl-C).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// recordFor builds the output row of m. The defanged column costs a
// rewrite of the value, so it is filled only with withDefanged or defang.
func recordFor(m ioc.Match, defang, withDefanged bool, file string) extractRecord {
	if m.Invalid != nil {
		input := m.Invalid.Input
		if defang {
			input = defangText(input)
		}
		return extractRecord{IOC: input, Type: "invalid", Reason: m.Invalid.Reason, Flags: []ioc.Flag{}, Line: m.Line, File: file}
	}
	rec := extractRecord{
		IOC:        m.IOC.Input,
		Type:       string(m.IOC.Type),
		Normalized: m.IOC.Value,
		Flags:      m.IOC.Flags,
		Line:       m.Line,
		File:       file,
	}
	if withDefanged || defang {
		rec.Defanged = m.IOC.Defanged()
	}
	if rec.Flags == nil {
		rec.Flags = []ioc.Flag{}
	}
	if defang {
		rec.IOC = rec.Defanged
		rec.Normalized = rec.Defanged
	}
	return rec
}

// defangText neutralises an invalid candidate for display: it is not one
// valid indicator, so ioc.Defang would return it unchanged.
func defangText(s string) string {
	s = strings.ReplaceAll(s, ".", "[.]")
	s = strings.Replace(s, "http", "hxxp", 1)
	return strings.Replace(s, "ftp", "fxp", 1)
}

// typeGroups are shorthands accepted by --type.
var typeGroups = map[string][]ioc.Type{
	"hash": {ioc.MD5, ioc.SHA1, ioc.SHA256},
	"ip":   {ioc.IPv4, ioc.IPv6},
}

func parseTypeFlags(values []string) ([]ioc.Type, error) {
	var out []ioc.Type
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if g, ok := typeGroups[name]; ok {
				out = append(out, g...)
				continue
			}
			t := ioc.Type(name)
			if !isKnownType(t) {
				return nil, usageErr("invalid --type %q: use md5, sha1, sha256, ipv4, ipv6, domain, url, hash or ip", name)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

func isKnownType(t ioc.Type) bool {
	for _, k := range ioc.Types {
		if k == t {
			return true
		}
	}
	return false
}

// extractWriter prints records in one output format as they arrive.
type extractWriter struct {
	format  string
	out     io.Writer
	json    *json.Encoder
	csv     *csv.Writer
	invalid bool
	n       int // records written, for the JSON array separators
}

func newExtractWriter(format string, out io.Writer, invalid bool) (*extractWriter, error) {
	w := &extractWriter{format: format, out: out, json: json.NewEncoder(out), invalid: invalid}
	switch format {
	case "console", "ndjson", "json":
	case "csv":
		w.csv = csv.NewWriter(out)
	default:
		return nil, usageErr("invalid output format %q: use console, ndjson, json or csv", format)
	}
	return w, nil
}

var csvHeader = []string{"ioc", "type", "normalized", "defanged", "flags", "line", "file"}

func (w *extractWriter) write(rec extractRecord) error {
	switch w.format {
	case "ndjson":
		return w.json.Encode(rec)
	case "json":
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		sep := ",\n"
		if w.n == 0 {
			sep = "[\n"
		}
		w.n++
		_, err = fmt.Fprintf(w.out, "%s%s", sep, b)
		return err
	case "csv":
		if w.n == 0 {
			header := csvHeader
			if w.invalid {
				header = append(header[:len(header):len(header)], "reason")
			}
			if err := w.csv.Write(header); err != nil {
				return err
			}
		}
		w.n++
		row := []string{rec.IOC, rec.Type, rec.Normalized, rec.Defanged, joinFlags(rec.Flags), strconv.Itoa(rec.Line), rec.File}
		if w.invalid {
			row = append(row, rec.Reason)
		}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		return w.csv.Write(row)
	}

	// console
	line := fmt.Sprintf("%-7s %s", rec.Type, rec.Normalized)
	if rec.Type == "invalid" {
		line = fmt.Sprintf("%-7s %s: %s", rec.Type, rec.IOC, rec.Reason)
	}
	if len(rec.Flags) > 0 {
		line += " (" + joinFlags(rec.Flags) + ")"
	}
	if rec.File != "" {
		line = rec.File + ":" + strconv.Itoa(rec.Line) + ": " + line
	}
	_, err := fmt.Fprintln(w.out, sanitizeLine(line))
	return err
}

// writeCounts prints the number of indicators per type, in the order of
// ioc.Types, then invalid candidates.
func (w *extractWriter) writeCounts(counts map[string]int) error {
	names := make([]string, 0, len(ioc.Types)+1)
	for _, t := range ioc.Types {
		names = append(names, string(t))
	}
	names = append(names, "invalid")
	total := 0
	for _, n := range counts {
		total += n
	}

	switch w.format {
	case "json", "ndjson":
		m := map[string]int{"total": total}
		for _, n := range names {
			if n != "invalid" || w.invalid {
				m[n] = counts[n]
			}
		}
		return w.json.Encode(m)
	case "csv":
		if err := w.csv.Write([]string{"type", "count"}); err != nil {
			return err
		}
		for _, n := range names {
			if counts[n] > 0 {
				if err := w.csv.Write([]string{n, strconv.Itoa(counts[n])}); err != nil {
					return err
				}
			}
		}
		if err := w.csv.Write([]string{"total", strconv.Itoa(total)}); err != nil {
			return err
		}
		w.csv.Flush()
		return w.csv.Error()
	}
	for _, n := range names {
		if counts[n] > 0 {
			if _, err := fmt.Fprintf(w.out, "%-7s %d\n", n, counts[n]); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(w.out, "%-7s %d\n", "total", total)
	return err
}

func (w *extractWriter) close() error {
	switch w.format {
	case "json":
		if w.n == 0 {
			_, err := io.WriteString(w.out, "[]\n")
			return err
		}
		_, err := io.WriteString(w.out, "\n]\n")
		return err
	case "csv":
		w.csv.Flush()
		return w.csv.Error()
	}
	return nil
}

func joinFlags(fs []ioc.Flag) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ";")
}

// csvSafe prefixes a cell that a spreadsheet would evaluate as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// sanitizeLine replaces control characters, so text taken from the input
// cannot move the cursor or recolour a terminal.
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
