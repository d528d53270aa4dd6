package splunk

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

// Args are the options of `| vex field=<name> ...`.
type Args struct {
	Field   string        // the event field holding indicators; required
	Mode    enrich.Mode   // triage (default) or investigate
	Prefix  string        // prefix of the added fields; default "vt_"
	Offline bool          // use cached results only
	MaxAge  time.Duration // accept cached results up to this age; 0 means the configured TTL
	KVStore bool          // use the KV store collection as a shared cache; default true
	Timeout time.Duration // time allowed for all lookups of the search, counted from the first
}

// DefaultTimeout bounds the lookups of one search, so a search on a small
// quota ends with "cancelled" rows instead of waiting for hours.
const DefaultTimeout = 5 * time.Minute

const usage = "usage: | vex field=<field> [mode=triage|investigate] [prefix=vt_] [offline=<bool>] [max_age=<duration>] [kvstore=<bool>] [timeout=<duration>]"

// ParseArgs reads the command's arguments as splunkd passes them in
// searchinfo.args, one "name=value" string each.
func ParseArgs(list []string) (Args, error) {
	a := Args{Mode: enrich.Triage, Prefix: "vt_", KVStore: true, Timeout: DefaultTimeout}
	for _, arg := range list {
		name, value, ok := strings.Cut(arg, "=")
		if !ok {
			return a, fmt.Errorf("unexpected argument %q: %s", arg, usage)
		}
		var err error
		switch strings.ToLower(name) {
		case "field":
			a.Field = value
		case "mode":
			switch m := enrich.Mode(strings.ToLower(value)); m {
			case enrich.Triage, enrich.Investigate:
				a.Mode = m
			default:
				err = fmt.Errorf("invalid mode %q: use triage or investigate", value)
			}
		case "prefix":
			a.Prefix = value
			if !validPrefix(value) {
				err = fmt.Errorf("invalid prefix %q: start with a letter and use letters, digits and underscores, such as vt_", value)
			} else if f := defaultFieldClash(value); f != "" {
				err = fmt.Errorf("invalid prefix %q: it would overwrite Splunk's default field %s; use one such as vt_", value, f)
			}
		case "offline":
			a.Offline, err = parseBool(name, value)
		case "kvstore":
			a.KVStore, err = parseBool(name, value)
		case "max_age":
			a.MaxAge, err = parseDuration(name, value)
		case "timeout":
			a.Timeout, err = parseDuration(name, value)
			if err == nil && a.Timeout == 0 {
				err = fmt.Errorf("invalid timeout %q: must be more than zero", value)
			}
		default:
			err = fmt.Errorf("unknown option %q: %s", name, usage)
		}
		if err != nil {
			return a, err
		}
	}
	if a.Field == "" {
		return a, fmt.Errorf("missing field: %s", usage)
	}
	return a, nil
}

// validPrefix reports whether s is safe in front of the added field names.
// It must not be empty, or vt_source would overwrite the event's own source
// field, and must start with a letter: Splunk hides fields that start with
// an underscore, and a leading digit makes a field awkward to use in eval.
func validPrefix(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return validFieldName(s)
}

// splunkDefaultFields are the fields Splunk sets on every event; an added
// field must not take one of their names.
var splunkDefaultFields = map[string]bool{
	"host": true, "source": true, "sourcetype": true, "index": true, "splunk_server": true,
	"linecount": true, "punct": true, "eventtype": true, "tag": true, "timestamp": true,
	"timeendpos": true, "timestartpos": true, "date_hour": true, "date_mday": true,
	"date_minute": true, "date_month": true, "date_second": true, "date_wday": true,
	"date_year": true, "date_zone": true,
}

// defaultFieldClash returns the Splunk default field that prefix followed
// by an added field's name would be, such as sourcetype for prefix
// "source", or "" when there is none. Splunk matches field names
// case-sensitively, and its default fields are lower case.
func defaultFieldClash(prefix string) string {
	for _, name := range outputFields {
		if splunkDefaultFields[prefix+name] {
			return prefix + name
		}
	}
	return ""
}

func validFieldName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseBool accepts the boolean spellings Splunk accepts in search
// commands: true/false, t/f, yes/no, 1/0.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "t", "yes", "y", "1":
		return true, nil
	case "false", "f", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid %s %q: use true or false", name, v)
}

// parseDuration accepts Go durations ("90m", "1h30m"), a day suffix ("7d")
// and bare seconds ("3600").
func parseDuration(name, v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseUint(d, 10, 16); err == nil {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid %s %q: use a duration such as 3600, 90m or 7d", name, v)
	}
	return d, nil
}
