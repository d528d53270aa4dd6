package stix

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
)

// uuid is a 16-byte RFC 9562 UUID.
type uuid [16]byte

func mustParseUUID(s string) uuid {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic(fmt.Sprintf("invalid uuid constant %q", s))
	}
	var u uuid
	copy(u[:], b)
	return u
}

func (u uuid) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// uuidV5 returns the name-based SHA-1 UUID of name in namespace ns.
func uuidV5(ns uuid, name string) uuid {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u uuid
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u
}

// scoNamespace is the namespace STIX 2.1 (section 2.9) fixes for
// deterministic cyber-observable ids, so every producer derives the same id
// for the same observable.
var scoNamespace = mustParseUUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

// vexNamespace is vex's own namespace for the ids of domain and relationship
// objects, which STIX leaves to the producer. Deriving them from content
// makes a re-export of the same indicator update the same objects.
var vexNamespace = mustParseUUID("7d5c3a8e-54f1-4c8b-9f3e-2a9b6c1d0e47")

// scoID returns the deterministic id of a cyber-observable: UUIDv5 in the
// STIX namespace over the canonical JSON (RFC 8785) of its ID contributing
// properties.
func scoID(typ string, contributing map[string]any) string {
	return typ + "--" + uuidV5(scoNamespace, canonicalJSON(contributing)).String()
}

// sdoID returns a deterministic id for a domain, relationship or meta object
// from the parts that identify it.
func sdoID(typ string, parts ...string) string {
	return typ + "--" + uuidV5(vexNamespace, typ+"\x00"+strings.Join(parts, "\x00")).String()
}

// canonicalJSON encodes strings, maps and numbers the way RFC 8785 does:
// keys sorted by UTF-16 code units, no white space, and only the escapes
// that JSON requires. It covers the value types the contributing
// properties of the observables written here use.
func canonicalJSON(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func writeCanonical(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		writeCanonicalString(b, v)
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		writeCanonical(b, m)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return utf16Less(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonicalString(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	case int:
		fmt.Fprintf(b, "%d", v)
	case int64:
		fmt.Fprintf(b, "%d", v)
	default:
		panic(fmt.Sprintf("canonicalJSON: unsupported type %T", v))
	}
}

func writeCanonicalString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func utf16Less(a, b string) bool {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return len(x) < len(y)
}
