package vttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vex-ioc/vex/core/vt"
)

// route is one canned response.
type route struct {
	status int
	body   []byte
	file   string // source file relative to the fixtures folder
}

// IndexRow is one line of an INDEX.tsv. It maps a request to the fixture
// file that holds the real API's response.
type IndexRow struct {
	Method   string // GET, or FAULT for error bodies with no fixed path
	Path     string // relative to /api/v3; for FAULT rows a name such as "429 quota"
	Status   int
	File     string // relative to the fixtures folder
	Envelope string // as-is, wrap in {"data": ...}, or reshape: ...
}

// ReadIndex parses the INDEX.tsv of dir. A missing file gives no rows and
// no error.
func ReadIndex(dir string) ([]IndexRow, error) {
	f, err := os.Open(filepath.Join(dir, "INDEX.tsv"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open fixture index: %w", err)
	}
	defer f.Close()

	var rows []IndexRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		if line == 1 && len(cols) > 0 && cols[0] == "method" {
			continue
		}
		if len(cols) < 5 {
			return nil, fmt.Errorf("fixture index %s line %d: want 5 tab-separated columns, got %d", f.Name(), line, len(cols))
		}
		status, err := strconv.Atoi(cols[2])
		if err != nil || status < 100 || status > 599 {
			return nil, fmt.Errorf("fixture index %s line %d: invalid status %q", f.Name(), line, cols[2])
		}
		rows = append(rows, IndexRow{Method: cols[0], Path: cols[1], Status: status, File: cols[3], Envelope: cols[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read fixture index %s: %w", f.Name(), err)
	}
	return rows, nil
}

// ApplyEnvelope turns a fixture file's bytes into the body the real API
// sends, following the envelope column of INDEX.tsv.
func ApplyEnvelope(raw []byte, envelope string) ([]byte, error) {
	switch {
	case strings.HasPrefix(envelope, "as-is"):
		return raw, nil
	case strings.HasPrefix(envelope, "wrap in"):
		if !json.Valid(raw) {
			return nil, fmt.Errorf("envelope %q: file is not valid JSON", envelope)
		}
		return append(append([]byte(`{"data": `), bytes.TrimSpace(raw)...), '}'), nil
	case strings.HasPrefix(envelope, "reshape"):
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, fmt.Errorf("envelope %q: %w", envelope, err)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(top["data"], &data); err != nil || data == nil {
			return nil, fmt.Errorf("envelope %q: \"data\" is not an object", envelope)
		}
		for _, k := range []string{"type", "id", "links"} {
			if v, ok := top[k]; ok {
				data[k] = v
				delete(top, k)
			}
		}
		moved, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		top["data"] = moved
		return json.Marshal(top)
	}
	return nil, fmt.Errorf("unknown envelope %q: want as-is, wrap in or reshape", envelope)
}

// loadFixtures reads dir: the INDEX.tsv rows first, then every other JSON
// file holding an object, served by its id under its type's collection.
func (s *Server) loadFixtures(dir string) error {
	rows, err := ReadIndex(dir)
	if err != nil {
		return err
	}
	indexed := map[string]bool{}
	for _, row := range rows {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row.File)))
		if err != nil {
			return fmt.Errorf("fixture index row %s %s: %w", row.Method, row.Path, err)
		}
		indexed[filepath.ToSlash(row.File)] = true
		body, err := ApplyEnvelope(raw, row.Envelope)
		if err != nil {
			return fmt.Errorf("fixture index row %s %s (%s): %w", row.Method, row.Path, row.File, err)
		}
		r := route{status: row.Status, body: body, file: row.File}
		switch row.Method {
		case "FAULT":
			s.faultBodies[row.Path] = r
		case "GET":
			s.routes[row.Path] = r
		default:
			return fmt.Errorf("fixture index row %s %s: method must be GET or FAULT", row.Method, row.Path)
		}
	}

	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || !strings.HasSuffix(path, ".json") || indexed[rel] {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read fixture: %w", err)
		}
		o, err := vt.DecodeObject(raw)
		if err != nil || o.ID == "" {
			return nil // not an object; error bodies and lists need an index row
		}
		for _, p := range objectPaths(o) {
			if _, taken := s.routes[p]; !taken {
				s.routes[p] = route{status: 200, body: raw, file: rel}
			}
		}
		return nil
	})
}

// collections maps object types to their API collection.
var collections = map[string]string{
	"file": "files", "ip_address": "ip_addresses", "domain": "domains", "url": "urls",
}

// objectPaths lists the paths the real API serves o under: its id, and for
// files each hash, for URLs the base64url id of the URL.
func objectPaths(o *vt.Object) []string {
	coll, ok := collections[o.Type]
	if !ok {
		return nil
	}
	paths := []string{"/" + coll + "/" + o.ID}
	switch o.Type {
	case "file":
		for _, h := range []string{"md5", "sha1", "sha256"} {
			if v := strings.ToLower(o.Attributes.String(h)); v != "" && v != o.ID {
				paths = append(paths, "/files/"+v)
			}
		}
	case "url":
		if u := o.Attributes.String("url"); u != "" {
			paths = append(paths, "/urls/"+vt.URLID(u))
		}
	}
	return paths
}
