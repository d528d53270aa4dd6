package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vex-ioc/vex/core/secret"
)

// Setting is one key=value change for SetValues, with the key in dotted form
// such as "api.tier" and the value as the user typed it.
type Setting struct {
	Key   string
	Value string
}

// ParseSetting splits "section.key=value".
func ParseSetting(s string) (Setting, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return Setting{}, fmt.Errorf("%w: %q: want section.key=value, such as api.tier=premium", ErrInvalidValue, s)
	}
	return Setting{Key: k, Value: strings.TrimSpace(v)}, nil
}

// SetAPIKey stores key as api.key in the config file at path, keeping every
// other line of the file, comments included. The file is written atomically
// with mode 0600, in a directory created with mode 0700 when missing; an
// existing file with looser permissions is tightened by the rewrite.
func SetAPIKey(path string, key secret.String) error {
	v := strings.TrimSpace(key.Reveal())
	if v == "" {
		return fmt.Errorf("%w: the API key is empty", ErrInvalidValue)
	}
	if err := checkSecret(v); err != nil {
		return fmt.Errorf("%w: the API key %v", ErrInvalidValue, err)
	}
	return edit(path, []edit1{{section: "api", key: "key", literal: quoteTOML(v), want: v}})
}

// SetValues applies settings to the config file at path the way SetAPIKey
// does, then validates the whole file before writing it, so a bad value
// leaves the file unchanged. Secrets (api.key, serve.redis_url,
// serve.tokens) cannot be set this way, because command-line arguments end
// up in shell history and process listings.
func SetValues(path string, settings []Setting) error {
	var edits []edit1
	for _, s := range settings {
		e, err := settingEdit(s)
		if err != nil {
			return err
		}
		edits = append(edits, e)
	}
	return edit(path, edits)
}

// edit1 is one line-level change: set key in [section] to literal, which must
// decode to want.
type edit1 struct {
	section, key, literal string
	want                  any
}

func edit(path string, edits []edit1) error {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: read config file %s: %w", ErrConfig, path, err)
	}

	text := string(old)
	for _, e := range edits {
		text = setLine(text, e.section, e.key, e.literal)
	}

	// Check the result decodes to the requested values and passes
	// validation before it replaces the file.
	var tree map[string]any
	if _, err := toml.Decode(text, &tree); err != nil {
		return fmt.Errorf("%w: could not update %s automatically because its layout is unusual; edit it by hand", ErrConfig, path)
	}
	for _, e := range edits {
		table, _ := tree[e.section].(map[string]any)
		if table == nil || !reflect.DeepEqual(table[e.key], e.want) {
			return fmt.Errorf("%w: could not update %s.%s in %s automatically; edit the file by hand", ErrConfig, e.section, e.key, path)
		}
	}
	if _, err := Parse([]byte(text), path); err != nil {
		return err
	}
	return writeAtomic(path, []byte(text))
}

var (
	tableHeader = regexp.MustCompile(`^\s*\[`)
	commentOnly = regexp.MustCompile(`^\s*(#.*)?$`)
)

// setLine sets key in [section] of a TOML text to literal: it replaces the
// line that assigns the key, or adds one at the end of the section, or adds
// the section at the end of the text.
func setLine(text, section, key, literal string) string {
	out := setLineIn(text, section, key, literal)
	if !strings.HasSuffix(out, "\n") {
		out += "\n" // a text file ends with a newline, whatever it had before
	}
	return out
}

func setLineIn(text, section, key, literal string) string {
	header := regexp.MustCompile(`^\s*\[\s*` + regexp.QuoteMeta(section) + `\s*\]\s*(#.*)?$`)
	assign := regexp.MustCompile(`^\s*("?)` + regexp.QuoteMeta(key) + `("?)\s*=`)
	line := key + " = " + literal

	lines := strings.Split(text, "\n")
	start := slices.IndexFunc(lines, header.MatchString)
	if start < 0 {
		trimmed := strings.TrimRight(text, "\n")
		if trimmed != "" {
			trimmed += "\n\n"
		}
		return trimmed + "[" + section + "]\n" + line + "\n"
	}

	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if tableHeader.MatchString(lines[i]) {
			end = i
			break
		}
	}
	for i := start + 1; i < end; i++ {
		if assign.MatchString(lines[i]) {
			lines[i] = line
			return strings.Join(lines, "\n")
		}
	}
	// Insert after the last setting of the section, before trailing blank
	// lines and comments that belong to the next section.
	at := end
	for at > start+1 && commentOnly.MatchString(lines[at-1]) {
		at--
	}
	lines = slices.Insert(lines, at, line)
	return strings.Join(lines, "\n")
}

// settingEdit checks one setting against the file layout and formats its
// value as a TOML literal.
func settingEdit(s Setting) (edit1, error) {
	section, key, ok := strings.Cut(s.Key, ".")
	if !ok {
		return edit1{}, fmt.Errorf("%w %q: want section.key, such as api.tier", ErrUnknownKey, s.Key)
	}
	switch s.Key {
	case "api.key":
		return edit1{}, fmt.Errorf("%w: set the API key with `vex config --set-api-key`, which keeps it out of shell history", ErrInvalidValue)
	case "serve.redis_url", "serve.tokens", "serve.metrics_token":
		return edit1{}, fmt.Errorf("%w: %s may contain a secret; edit the config file instead", ErrInvalidValue, s.Key)
	}
	kind, ok := settableKeys()[s.Key]
	if !ok {
		return edit1{}, fmt.Errorf("%w %q; valid keys: %s", ErrUnknownKey, s.Key, strings.Join(SettableKeys(), ", "))
	}

	e := edit1{section: section, key: key}
	switch kind {
	case reflect.String:
		e.literal, e.want = quoteTOML(s.Value), s.Value
	case reflect.Bool:
		b, err := strconv.ParseBool(s.Value)
		if err != nil {
			return edit1{}, fmt.Errorf("%w: %s: %q, want true or false", ErrInvalidValue, s.Key, s.Value)
		}
		e.literal, e.want = strconv.FormatBool(b), b
	case reflect.Int:
		n, err := strconv.ParseInt(s.Value, 10, 64)
		if err != nil {
			return edit1{}, fmt.Errorf("%w: %s: %q, want a whole number", ErrInvalidValue, s.Key, s.Value)
		}
		e.literal, e.want = strconv.FormatInt(n, 10), n
	case durationKind:
		if _, err := time.ParseDuration(s.Value); err != nil {
			return edit1{}, fmt.Errorf("%w: %s: %q, want a duration such as \"90s\" or \"24h\"", ErrInvalidValue, s.Key, s.Value)
		}
		e.literal, e.want = quoteTOML(s.Value), s.Value
	}
	return e, nil
}

// durationKind marks Duration fields in settableKeys; reflect has no kind for
// them, and no config field is a complex number.
const durationKind = reflect.Complex128

// settableKeys maps each scalar key of the file to its kind, read from the
// toml tags of fileConfig so the list cannot drift from the decoder.
func settableKeys() map[string]reflect.Kind {
	keys := map[string]reflect.Kind{}
	top := reflect.TypeFor[fileConfig]()
	durationType := reflect.TypeFor[Duration]()
	for i := range top.NumField() {
		sec := top.Field(i)
		for j := range sec.Type.NumField() {
			f := sec.Type.Field(j)
			name := sec.Tag.Get("toml") + "." + f.Tag.Get("toml")
			switch {
			case f.Type == durationType:
				keys[name] = durationKind
			case f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Bool, f.Type.Kind() == reflect.Int:
				keys[name] = f.Type.Kind()
			}
		}
	}
	delete(keys, "api.key")
	delete(keys, "serve.redis_url")
	delete(keys, "serve.metrics_token")
	return keys
}

// SettableKeys lists the keys SetValues accepts, sorted.
func SettableKeys() []string {
	keys := make([]string, 0, 32)
	for k := range settableKeys() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quoteTOML writes s as a TOML basic string. strconv.Quote is not used
// because TOML has no \x, \a or \v escapes.
func quoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeAtomic replaces path with data through a temporary file in the same
// directory and a rename, so a crash leaves the old file or the new one,
// never half of either. The file gets mode 0600 because it may contain a key.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: create config directory %s: %w", ErrConfig, dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.toml.tmp")
	if err != nil {
		return fmt.Errorf("%w: write config file %s: %w", ErrConfig, path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("%w: set mode of %s: %w", ErrConfig, tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("%w: write config file %s: %w", ErrConfig, path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("%w: write config file %s: %w", ErrConfig, path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: write config file %s: %w", ErrConfig, path, err)
	}

	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: replace config file %s: %w", ErrConfig, path, err)
	}
	// Persist the rename itself; failing to sync the directory only risks
	// the old file coming back after a crash, so it is not an error.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Show renders cfg as TOML with every secret masked, for `vex config --show`.
func Show(cfg *Config) string {
	f := newFileConfig(cfg)
	f.API.Key = cfg.API.Key.Masked()
	f.Serve.RedisURL = redactURL(cfg.Serve.RedisURL.Reveal())
	if !cfg.Serve.MetricsToken.IsZero() {
		f.Serve.MetricsToken = cfg.Serve.MetricsToken.Masked()
	}
	for i := range f.Serve.Tokens {
		f.Serve.Tokens[i].Token = cfg.Serve.Tokens[i].Token.Masked()
	}

	var b bytes.Buffer
	if cfg.Path != "" {
		fmt.Fprintf(&b, "# effective configuration: defaults overlaid with %s\n", cfg.Path)
	} else {
		b.WriteString("# effective configuration: built-in defaults\n")
	}
	b.WriteString("# secrets are masked\n\n")
	if err := toml.NewEncoder(&b).Encode(f); err != nil {
		// The encoder fails only on types such as maps with non-string
		// keys, which fileConfig does not have; report it rather than hide it.
		fmt.Fprintf(&b, "# encoding failed: %v\n", err)
	}
	return b.String()
}

// redactURL hides a password in a URL. A string that does not parse is
// masked whole, since it may still contain one.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "****"
	}
	return u.Redacted()
}
