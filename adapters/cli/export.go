package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	bundle, err := stix.Build(r.results, stix.Options{
		IdentityName: r.cfg.STIX.IdentityName,
		TLP:          r.cfg.STIX.TLP,
		Now:          r.app.env.Now,
		Techniques:   techniques,
	})
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

// writeExport writes data to path, or to stdout for "-". A file is
// written to a temporary name in the same folder and renamed, so a reader
// never sees half a bundle and an old file survives a failed run. The mode
// is 0644: exports are for sharing, and hold no secret.
func (r *lookupRun) writeExport(what, path string, data []byte) error {
	if path == stdoutPath {
		if _, err := r.app.io.Out.Write(data); err != nil {
			return fmt.Errorf("write %s to stdout: %w", what, err)
		}
		return nil
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		// Exit status 1, as for a failed write of the results.
		return fmt.Errorf("write %s to %s: %w; check that the folder exists and is writable", what, path, err)
	}
	return nil
}

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
