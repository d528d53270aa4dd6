package vt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/verdict"
)

// Object is one VirusTotal object (file, ip_address, domain, url,
// resolution, ...). Decoding is liberal: fields of an unexpected type are
// dropped, never an error, because real payloads vary between API versions.
type Object struct {
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	Attributes Attributes        `json:"attributes,omitempty"`
	Links      map[string]string `json:"links,omitempty"`
	// Raw is the object's JSON as received, for caches and exports.
	Raw json.RawMessage `json:"-"`
}

// Collection is a page or several pages of a relationship list.
type Collection struct {
	Data []Object
	// Meta is the "meta" object of the last page fetched (count, cursor).
	Meta map[string]any
	// Truncated is true when more items existed than the caller's maximum.
	Truncated bool
}

// DecodeObject decodes a response of the form {"data":{...}}. Any other
// shape, or data that is not a JSON object, is an error matching ErrDecode.
func DecodeObject(body []byte) (*Object, error) {
	raw, m, err := decodeData(body)
	if err != nil {
		return nil, fmt.Errorf("%w: decode object: %v", ErrDecode, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: decode object: \"data\" is missing or not an object", ErrDecode)
	}
	o := objectFromMap(m, raw)
	if err := checkStats(o.Attributes); err != nil {
		return nil, fmt.Errorf("%w: decode object: %v", ErrDecode, err)
	}
	return o, nil
}

// maxStatCount bounds one last_analysis_stats count. Each engine gives one
// result per analysis and VirusTotal runs on the order of a hundred engines
// (an estimate), so a larger count is corrupt data, not a real analysis.
const maxStatCount = 10000

// checkStats rejects last_analysis_stats counts that no analysis can
// produce: negative, above maxStatCount or not finite. Such data would
// otherwise be read as zeros and cached as a valid "too few engines"
// result. Values that are not numbers are left to the liberal decoding,
// which reads them as 0.
func checkStats(attrs Attributes) error {
	for name, v := range attrs.Map("last_analysis_stats") {
		var text string
		switch x := v.(type) {
		case json.Number:
			text = x.String()
		case float64:
			text = strconv.FormatFloat(x, 'g', -1, 64)
		case string:
			text = strings.TrimSpace(x)
		default:
			continue
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			continue
		}
		if !(f >= 0 && f <= maxStatCount) {
			// Both strings come from the network and end up in terminal output.
			return fmt.Errorf("last_analysis_stats.%s is %s, want a count from 0 to %d",
				cleanMessage(name, ""), cleanMessage(text, ""), maxStatCount)
		}
	}
	return nil
}

// decodeData reads body, which must be one JSON object, and returns the raw
// bytes of its top-level "data" member and, when that is an object, its
// decoded value (numbers as json.Number). A later "data" key wins, as with
// json.Unmarshal. The member is scanned twice (to find its end, then to
// decode it); unmarshalling the envelope first and then the member scanned
// it four times, which was half the cost of a cached lookup.
func decodeData(body []byte) (raw []byte, m map[string]any, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil {
		return nil, nil, err
	} else if t != json.Delim('{') {
		return nil, nil, fmt.Errorf("response is %v, not a JSON object", t)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		if key, _ := t.(string); key != "data" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, err
			}
			continue
		}
		start := dec.InputOffset()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		// The offset before the value sits on the key's closing quote,
		// so the colon and blanks are trimmed off the front.
		raw = bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:")
		m, _ = v.(map[string]any)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("data after the top-level object")
	}
	return raw, m, nil
}

// decodeCollection decodes {"data":[...]} and also accepts a single object
// or null under "data", which one-to-one relationships return.
func decodeCollection(body []byte) (items []Object, meta map[string]any, err error) {
	var env struct {
		Data json.RawMessage `json:"data"`
		Meta json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, nil, fmt.Errorf("%w: decode collection: %v", ErrDecode, err)
	}
	if m, ok := decodeAny(env.Meta).(map[string]any); ok {
		meta = m
	}

	data := bytes.TrimSpace(env.Data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		return nil, meta, nil
	case data[0] == '{':
		o, ok := decodeObjectValue(data)
		if !ok {
			return nil, nil, fmt.Errorf("%w: decode collection: invalid object in \"data\"", ErrDecode)
		}
		return []Object{*o}, meta, nil
	case data[0] != '[':
		return nil, nil, fmt.Errorf("%w: decode collection: \"data\" is not a list", ErrDecode)
	}

	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, nil, fmt.Errorf("%w: decode collection: %v", ErrDecode, err)
	}
	for _, r := range raws {
		// Elements that are not objects carry nothing usable; skip them
		// rather than lose the whole page.
		if o, ok := decodeObjectValue(r); ok {
			items = append(items, *o)
		}
	}
	if len(items) == 0 && len(raws) > 0 {
		// A page of nothing but non-objects is not an empty list: read
		// as one, it would show "none" where the data was unreadable.
		return nil, nil, fmt.Errorf("%w: decode collection: none of the %d elements of \"data\" is an object", ErrDecode, len(raws))
	}
	return items, meta, nil
}

// decodeObjectValue decodes one object liberally. It reports false when raw
// is not a JSON object.
func decodeObjectValue(raw json.RawMessage) (*Object, bool) {
	m, ok := decodeAny(raw).(map[string]any)
	if !ok {
		return nil, false
	}
	return objectFromMap(m, raw), true
}

// objectFromMap builds an Object from its decoded map and raw JSON.
func objectFromMap(m map[string]any, raw []byte) *Object {
	o := &Object{Raw: append(json.RawMessage(nil), bytes.TrimSpace(raw)...)}
	o.Type, _ = m["type"].(string)
	o.ID, _ = m["id"].(string)
	if a, ok := m["attributes"].(map[string]any); ok {
		o.Attributes = a
	}
	if l, ok := m["links"].(map[string]any); ok {
		for k, v := range l {
			if s, ok := v.(string); ok {
				if o.Links == nil {
					o.Links = map[string]string{}
				}
				o.Links[k] = s
			}
		}
	}
	return o
}

// decodeAny decodes raw with numbers kept as json.Number, so large integers
// such as sizes keep their exact value. It returns nil for invalid JSON.
func decodeAny(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	return v
}

// Attributes are an object's attributes. The accessors take a path of keys
// into nested objects, return the zero value when a key is missing or has
// another type, and never panic, also on a nil map.
type Attributes map[string]any

// Lookup returns the value at path and whether it exists.
func (a Attributes) Lookup(path ...string) (any, bool) {
	var cur any = map[string]any(a)
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// String returns the string at path. Numbers and booleans are formatted,
// because some fields (asn, for one) arrive as either.
func (a Attributes) String(path ...string) string {
	v, _ := a.Lookup(path...)
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// Int64 returns the integer at path, accepting JSON integers, floats with
// no fraction and numeric strings. Anything else, or a value out of the
// int64 range, is 0.
func (a Attributes) Int64(path ...string) int64 {
	v, _ := a.Lookup(path...)
	return toInt64(v)
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return floatToInt64(x.String())
	case float64:
		return floatInt(x)
	case int:
		return int64(x)
	case int64:
		return x
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		return floatToInt64(s)
	}
	return 0
}

func floatToInt64(s string) int64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return floatInt(f)
}

func floatInt(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) ||
		f < math.MinInt64 || f >= math.MaxInt64 {
		return 0
	}
	return int64(f)
}

// Float returns the number at path, accepting numeric strings.
func (a Attributes) Float(path ...string) float64 {
	v, _ := a.Lookup(path...)
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case float64:
		f = x
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// Bool returns the boolean at path; the strings "true" and "false" count.
func (a Attributes) Bool(path ...string) bool {
	v, _ := a.Lookup(path...)
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(strings.TrimSpace(x))
		return b
	}
	return false
}

// maxUnix is the last second of year 9999, beyond which a timestamp is
// garbage rather than a date.
const maxUnix = 253402300799

// Time returns the time at path in UTC. VirusTotal sends Unix seconds as
// integers; floats, numeric strings and RFC 3339 strings are accepted too.
// Zero, negative and out-of-range values give the zero time.
func (a Attributes) Time(path ...string) time.Time {
	v, _ := a.Lookup(path...)
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
			return t.UTC()
		}
	}
	var sec float64
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return time.Time{}
		}
		sec = f
	case float64:
		sec = x
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return time.Time{}
		}
		sec = f
	default:
		return time.Time{}
	}
	if math.IsNaN(sec) || sec <= 0 || sec > maxUnix {
		return time.Time{}
	}
	whole := math.Trunc(sec)
	return time.Unix(int64(whole), int64((sec-whole)*1e9)).UTC()
}

// Strings returns the string elements of the list at path, skipping
// elements of other types. A single string is returned as a one-element list.
func (a Attributes) Strings(path ...string) []string {
	v, _ := a.Lookup(path...)
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}

// Map returns the object at path as Attributes, nil when it is not one.
func (a Attributes) Map(path ...string) Attributes {
	v, _ := a.Lookup(path...)
	m, _ := v.(map[string]any)
	return m
}

// Slice returns the list at path, nil when it is not one.
func (a Attributes) Slice(path ...string) []any {
	v, _ := a.Lookup(path...)
	s, _ := v.([]any)
	return s
}

// Stats returns last_analysis_stats. Counts may be integers, floats or
// numeric strings; negative or non-numeric counts are 0.
func (o *Object) Stats() verdict.Stats {
	if o == nil {
		return verdict.Stats{}
	}
	s := o.Attributes.Map("last_analysis_stats")
	n := func(k string) int {
		v := s.Int64(k)
		if v < 0 || v > math.MaxInt32 {
			return 0
		}
		return int(v)
	}
	return verdict.Stats{
		Malicious:        n("malicious"),
		Suspicious:       n("suspicious"),
		Undetected:       n("undetected"),
		Harmless:         n("harmless"),
		Timeout:          n("timeout"),
		Failure:          n("failure"),
		TypeUnsupported:  n("type-unsupported"),
		ConfirmedTimeout: n("confirmed-timeout"),
	}
}

// HasStats reports whether the object carries last_analysis_stats at all.
// Older payloads (VirusTotal's 2019 shape) have none.
func (o *Object) HasStats() bool {
	return o != nil && o.Attributes.Map("last_analysis_stats") != nil
}
