package vt

import (
	"encoding/json"
	"sync"
	"unicode/utf8"
)

// Selection names the parts of a JSON object that DecodeSelected keeps.
// A value that is kept holds exactly what DecodeObject would put there, so
// the Attributes accessors read the same from either.
type Selection struct {
	// Members maps a member name to what to keep of its value. A nil
	// *Selection keeps the whole value.
	Members map[string]*Selection
	// Others applies to every member not named in Members, as in an object
	// keyed by engine name. Nil leaves those members out.
	Others *Selection
	// Keep, when not nil, is called with each value selected through
	// Others, and a member it returns false for is left out. Keep must not
	// retain the value, because the decoder reuses a rejected value's map.
	Keep func(value any) bool
	// Whole keeps the whole value, as a nil *Selection in Members does.
	Whole bool

	once  sync.Once
	names []string // the keys of Members, built on first use
	index map[string]string
}

// linearNames is the size up to which name compares a key with each name
// in turn, which is faster than hashing it.
const linearNames = 8

// common holds string values that most engine results repeat, boxed once,
// so that decoding them allocates nothing.
var common = map[string]any{}

func init() {
	for _, v := range []string{
		"malicious", "suspicious", "undetected", "harmless", "timeout", "failure",
		"type-unsupported", "confirmed-timeout", "clean", "unrated", "malware",
		"phishing", "spam", "blacklist",
	} {
		common[v] = v
	}
}

// maxSelectDepth bounds the nesting DecodeSelected reads. Deeper bodies go
// to DecodeObject, which has its own limit.
const maxSelectDepth = 256

// DecodeSelected decodes a response of the form {"data":{...}} like
// DecodeObject, but the Attributes hold only the members attrs selects, and
// Raw and Links stay empty. It scans the body once and builds no values for
// the members it leaves out: on the 6 KB file object of
// BenchmarkDecodeSelected that takes a seventh of DecodeObject's time.
//
// It reports false for every body that DecodeObject rejects. It may also
// report false for some that DecodeObject accepts, such as very deep ones,
// so a caller falls back to DecodeObject whenever it reports false.
func DecodeSelected(body []byte, attrs *Selection) (*Object, bool) {
	s := scanner{b: body}
	data := &Selection{Members: map[string]*Selection{"type": nil, "id": nil, "attributes": attrs}}
	var m map[string]any
	found := false

	s.space()
	if !s.consume('{') {
		return nil, false
	}
	s.space()
	if s.consume('}') {
		return nil, false // no "data"
	}
	for {
		key, ok := s.key()
		if !ok {
			return nil, false
		}
		if key.is("data") {
			v, ok := s.value(data, 1, nil)
			if !ok {
				return nil, false
			}
			// A later "data" wins, as with json.Unmarshal.
			m, _ = v.(map[string]any)
			found = true
		} else if !s.skip(1) {
			return nil, false
		}
		s.space()
		if s.consume(',') {
			continue
		}
		if !s.consume('}') {
			return nil, false
		}
		break
	}
	s.space()
	if s.i != len(s.b) || !found || m == nil {
		return nil, false
	}

	o := &Object{}
	o.Type, _ = m["type"].(string)
	o.ID, _ = m["id"].(string)
	if a, ok := m["attributes"].(map[string]any); ok {
		o.Attributes = a
	}
	if checkStats(o.Attributes) != nil {
		return nil, false // DecodeObject returns the error
	}
	return o, true
}

// scanner reads JSON from b. Every method validates what it reads as
// strictly as encoding/json does, and reports false on anything else.
type scanner struct {
	b     []byte
	i     int
	spare map[string]any // a map Keep rejected, reused for the next member
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// member is an object key or a string value as written in the body.
type member struct {
	raw     []byte // the text between the quotes
	escaped bool   // raw has a backslash escape
	ascii   bool   // raw has no byte of 0x80 or more
}

// is reports whether the member's decoded text is name.
func (k member) is(name string) bool {
	if !k.escaped {
		return string(k.raw) == name
	}
	s, ok := k.text()
	return ok && s == name
}

// text returns the decoded string, as encoding/json decodes it: escapes
// resolved and invalid UTF-8 replaced by U+FFFD.
func (k member) text() (string, bool) {
	if !k.escaped && (k.ascii || utf8.Valid(k.raw)) {
		return string(k.raw), true
	}
	quoted := k.raw[:len(k.raw):len(k.raw)]
	quoted = append(append([]byte{'"'}, quoted...), '"')
	var out string
	if err := json.Unmarshal(quoted, &out); err != nil {
		return "", false
	}
	return out, true
}

// key reads an object key and the colon after it.
func (s *scanner) key() (member, bool) {
	s.space()
	k, ok := s.str()
	if !ok {
		return member{}, false
	}
	s.space()
	return k, s.consume(':')
}

// str reads a string, which must start at s.i.
func (s *scanner) str() (member, bool) {
	if !s.consume('"') {
		return member{}, false
	}
	start := s.i
	k := member{ascii: true}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if plain[c] {
			s.i++
			continue
		}
		switch {
		case c == '"':
			k.raw = s.b[start:s.i]
			s.i++
			return k, true
		case c < 0x20:
			return member{}, false
		case c == '\\':
			k.escaped = true
			if !s.escape() {
				return member{}, false
			}
			continue
		case c >= utf8.RuneSelf:
			k.ascii = false
		}
		s.i++
	}
	return member{}, false
}

// plain marks the bytes that str steps over without a closer look: ASCII
// other than control characters, the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape checks the escape sequence at s.i and steps over it.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !isHex(h) {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number steps over a number as RFC 8259 writes it.
func (s *scanner) number() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.consume('.') && !s.digits() {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits steps over a run of digits and reports whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// value reads the value at s.i and returns what sel keeps of it. A value
// that is not an object, or a nil or Whole sel, is kept whole. reuse, when
// not nil, is an empty map to fill instead of a new one.
func (s *scanner) value(sel *Selection, depth int, reuse map[string]any) (any, bool) {
	s.space()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '{' && sel != nil && !sel.Whole:
		return s.object(sel, depth+1, reuse)
	case c == '{':
		return s.object(nil, depth+1, reuse)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		k, ok := s.str()
		if !ok {
			return nil, false
		}
		if v, ok := common[string(k.raw)]; ok && !k.escaped {
			return v, true
		}
		return k.text()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	default:
		start := s.i
		if !s.number() {
			return nil, false
		}
		return json.Number(s.b[start:s.i]), true
	}
}

// array reads a whole array.
func (s *scanner) array(depth int) ([]any, bool) {
	if depth > maxSelectDepth {
		return nil, false
	}
	s.i++ // the opening bracket
	list := []any{}
	s.space()
	if s.consume(']') {
		return list, true
	}
	for {
		v, ok := s.value(nil, depth, nil)
		if !ok {
			return nil, false
		}
		list = append(list, v)
		s.space()
		if s.consume(',') {
			continue
		}
		return list, s.consume(']')
	}
}

// object reads an object, keeping the members sel selects, or all of them
// when sel is nil.
func (s *scanner) object(sel *Selection, depth int, reuse map[string]any) (map[string]any, bool) {
	if depth > maxSelectDepth {
		return nil, false
	}
	s.i++ // the opening brace
	m := reuse
	if m == nil {
		m = make(map[string]any)
	}
	s.space()
	if s.consume('}') {
		return m, true
	}
	for {
		k, ok := s.key()
		if !ok {
			return nil, false
		}
		if sel == nil {
			name, ok := k.text()
			if !ok {
				return nil, false
			}
			v, ok := s.value(nil, depth, nil)
			if !ok {
				return nil, false
			}
			m[name] = v
		} else if !s.selected(sel, k, m, depth) {
			return nil, false
		}
		s.space()
		if s.consume(',') {
			continue
		}
		return m, s.consume('}')
	}
}

// selected reads the value of member k into m as sel selects it.
func (s *scanner) selected(sel *Selection, k member, m map[string]any, depth int) bool {
	name, named := sel.name(k)
	switch {
	case named:
		v, ok := s.value(sel.Members[name], depth, nil)
		if !ok {
			return false
		}
		m[name] = v
	case sel.Others != nil:
		// The spare map is taken before the value is read, so a
		// selection nested inside cannot be handed the same map.
		reuse := s.spare
		s.spare = nil
		v, ok := s.value(sel.Others, depth, reuse)
		if !ok {
			return false
		}
		if sel.Keep != nil && !sel.Keep(v) {
			// A later duplicate key wins, so it also removes an earlier
			// member of that name.
			if !s.forget(m, k) {
				return false
			}
			if vm, isMap := v.(map[string]any); isMap {
				clear(vm)
				s.spare = vm
			}
			return true
		}
		name, ok := k.text()
		if !ok {
			return false
		}
		m[name] = v
	default:
		return s.skip(depth)
	}
	return true
}

// name returns the decoded name of member k when sel.Members has it. The
// string comes from sel, so matching a plain key allocates nothing.
func (sel *Selection) name(k member) (string, bool) {
	sel.once.Do(func() {
		for n := range sel.Members {
			sel.names = append(sel.names, n)
		}
		if len(sel.names) > linearNames {
			sel.index = make(map[string]string, len(sel.names))
			for _, n := range sel.names {
				sel.index[n] = n
			}
		}
	})
	key := k.raw
	if k.escaped {
		text, ok := k.text()
		if !ok {
			return "", false
		}
		key = []byte(text)
	}
	if sel.index != nil {
		n, ok := sel.index[string(key)]
		return n, ok
	}
	for _, n := range sel.names {
		if n == string(key) {
			return n, true
		}
	}
	return "", false
}

// forget deletes the member k from m, without building its name when m
// has no member of that name.
func (s *scanner) forget(m map[string]any, k member) bool {
	if len(m) == 0 {
		return true
	}
	if !k.escaped && k.ascii {
		if _, ok := m[string(k.raw)]; !ok {
			return true
		}
	}
	name, ok := k.text()
	if ok {
		delete(m, name)
	}
	return ok
}

// skip steps over one value, checking that it is valid JSON.
func (s *scanner) skip(depth int) bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '{', '[':
		if depth >= maxSelectDepth {
			return false
		}
		return s.skipComposite(c, depth+1)
	case '"':
		_, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// skipComposite steps over an object or an array.
func (s *scanner) skipComposite(open byte, depth int) bool {
	s.i++
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	s.space()
	if s.consume(closing) {
		return true
	}
	for {
		if open == '{' {
			if _, ok := s.key(); !ok {
				return false
			}
		}
		if !s.skip(depth) {
			return false
		}
		s.space()
		if s.consume(',') {
			continue
		}
		return s.consume(closing)
	}
}
