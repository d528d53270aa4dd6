package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/stix"
)

// stdoutPath is the --stix value that sends the bundle to stdout in place
// of the normal output.
const stdoutPath = "-"

// stixBundle encodes results as one STIX 2.1 bundle with the [stix] config:
// TLP marking and producer identity. Indicators carry the real values
// even with --defang, ATT&CK techniques come from investigations,
// malware families from VirusTotal's threat labels, and local tags and
// notes become labels and notes.
func (r *lookupRun) stixBundle() ([]byte, error) {
	techniques := map[string][]mitre.Mapping{}
	for _, res := range r.results {
		if res.Investigation != nil && len(res.Investigation.Techniques) > 0 {
			techniques[res.Normalized] = append(techniques[res.Normalized], res.Investigation.Techniques...)
		}
	}
	opt := stix.Options{
		IdentityName: r.cfg.STIX.IdentityName,
		TLP:          r.cfg.STIX.TLP,
		Now:          r.app.env.Now,
		Techniques:   techniques,
	}
	if r.kb != nil {
		// A first pass collects the ids and created times of this export.
		// The knowledge base keeps the first created time of each id, and
		// the second pass uses it, so a re-export is a valid new version.
		proposed := map[string]time.Time{}
		opt.Created = func(id string, t time.Time) time.Time {
			if _, ok := proposed[id]; !ok {
				proposed[id] = t
			}
			return t
		}
		if _, err := stix.Build(r.results, opt); err != nil {
			return nil, err
		}
		first, err := r.kb.STIXCreated(context.Background(), proposed)
		if err != nil {
			r.app.logger.Warn("knowledge base unavailable; STIX objects exported before get a new created time", "error", err)
			first = proposed
		}
		opt.Created = func(id string, t time.Time) time.Time {
			if f, ok := first[id]; ok {
				return f
			}
			return t
		}
	}
	bundle, err := stix.Build(r.results, opt)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := stix.Write(&buf, bundle); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// navigatorLayer returns the ATT&CK Navigator layer of every technique the
// results map to. A run without techniques still gets a valid, empty layer,
// so a script that opens the file does not fail.
func (r *lookupRun) navigatorLayer() ([]byte, error) {
	var maps []mitre.Mapping
	var names []string
	for _, res := range r.results {
		if res.Investigation == nil {
			continue
		}
		maps = append(maps, res.Investigation.Techniques...)
		if res.Normalized != "" && len(names) < 3 {
			names = append(names, res.Normalized)
		}
	}
	name := "vex investigate"
	if len(names) > 0 {
		name += " " + strings.Join(names, ", ")
		if n := countInvestigated(r.results); n > len(names) {
			name += fmt.Sprintf(" (+%d more)", n-len(names))
		}
	}
	return mitre.NavigatorLayer(name, maps)
}

func countInvestigated(results []enrich.Result) int {
	n := 0
	for _, res := range results {
		if res.Investigation != nil && res.Normalized != "" {
			n++
		}
	}
	return n
}

// writeExport writes data to path, or to stdout for "-". A regular file
// is replaced as a whole (see writeFileAtomic), a character device or FIFO
// is written in place, and a symlink is followed to its target, as a shell
// redirection does. A failure exits with ExitIOError, the code app.report
// gives to an error without an ExitError.
func (r *lookupRun) writeExport(ctx context.Context, what, path string, data []byte) error {
	if path == stdoutPath {
		if _, err := r.app.io.Out.Write(data); err != nil {
			return fmt.Errorf("write %s to stdout: %w", what, err)
		}
		return nil
	}
	if sameFile(path, r.app.io.Err) {
		// Renaming over a log that stderr is redirected to would send the
		// rest of the log to a deleted file.
		if _, err := r.app.io.Err.Write(data); err != nil {
			return fmt.Errorf("write %s to stderr: %w", what, err)
		}
		return nil
	}
	if err := writeExportFile(ctx, path, data); err != nil {
		return fmt.Errorf("write %s to %s: %w", what, path, err)
	}
	return nil
}

// exportPath returns stdoutPath when path names the file stdout writes to
// (/dev/stdout, /dev/fd/1, a terminal or the file stdout is redirected to),
// so the export replaces the normal output as "-" does. Otherwise the
// bundle would be mixed into the results, or a new file renamed over the
// one stdout still writes to. When stdout and stderr are one terminal,
// /dev/stderr matches too.
func (a *app) exportPath(path string) string {
	if path != "" && path != stdoutPath && sameFile(path, a.io.Out) {
		return stdoutPath
	}
	return path
}

// sameFile reports whether path names the file behind w, when w is an
// open file.
func sameFile(path string, w io.Writer) bool {
	f, ok := w.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return false
	}
	wfi, err := f.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, wfi)
}

// writeExportFile writes data to the file at path in the way its type
// needs. Only an absent target or a regular file gets a temporary file and
// a rename. A rename over a device node or FIFO would replace the node
// with a regular file, which as root breaks /dev/null or /dev/full for the
// whole machine, and a rename over a symlink would cut the link.
func writeExportFile(ctx context.Context, path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && !fi.Mode().IsRegular() {
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			return errors.New("it is a directory: name a file in it")
		case mode&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
			return writeInPlace(ctx, path, data)
		default:
			return fmt.Errorf("file mode %v: write exports only to a regular file, character device or FIFO", mode)
		}
	}

	// The target is a regular file or absent, maybe behind a dangling
	// symlink, which gets its target created as with "> link".
	target, err := resolveSymlinks(path)
	if err != nil {
		return err
	}
	perm := fs.FileMode(0o644) // exports are for sharing and hold no secret
	if fi != nil {
		perm = fi.Mode().Perm() // keep the mode of the file being replaced
	}
	if err := writeFileAtomic(target, data, perm); err != nil {
		return fmt.Errorf("%w; check that the folder of %s exists and is writable", err, target)
	}
	return nil
}

// maxSymlinks is the number of symlinks resolveSymlinks follows before it
// gives up, the same as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// resolveSymlinks follows path while it is a symlink and returns the first
// name that is not one, which may not exist. Only the last element is
// resolved: a rename in a folder reached through a symlink is still a
// rename in that folder.
func resolveSymlinks(path string) (string, error) {
	for range maxSymlinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", fmt.Errorf("more than %d levels of symbolic links", maxSymlinks)
}

// fifoRetry is how often writeInPlace tries again to open a FIFO that no
// process reads yet.
const fifoRetry = 100 * time.Millisecond

// writeInPlace writes data to an existing character device or FIFO without
// creating or truncating anything. A FIFO is opened without blocking, so a
// run whose reader never comes still ends on Ctrl-C: the open is retried
// until a reader appears or ctx ends.
func writeInPlace(ctx context.Context, path string, data []byte) error {
	var f *os.File
	for {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENXIO) { // ENXIO: a FIFO with no reader
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no process opened the FIFO for reading: %w", ctx.Err())
		case <-time.After(fifoRetry):
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic writes data to a temporary name in the folder of path
// and renames it to path, so a reader never sees half a file and an old
// file survives a failed run.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename

	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
