// Package secret holds credentials in a type that does not print itself.
package secret

import "log/slog"

// MinLength is the shortest credential vex accepts as a VirusTotal API key
// or a gateway token. VirusTotal keys are 64 hex characters and the gateway
// guide makes tokens with `openssl rand -hex 32`, so a shorter value is a
// typo or a placeholder. Such a value is also too short to redact: replacing it in error
// text would garble ordinary words and show the reader what the secret is.
const MinLength = 16

// String is a credential. Its String, GoString and LogValue methods return a
// redacted placeholder, so a key passed by accident to fmt or slog never
// reaches output. Call Reveal only where the value is sent on the wire.
type String struct{ v string }

// New wraps a credential.
func New(v string) String { return String{v: v} }

// Reveal returns the credential itself.
func (s String) Reveal() string { return s.v }

// IsZero reports whether no credential is set.
func (s String) IsZero() bool { return s.v == "" }

// Masked returns a hint that identifies the key without exposing it: the
// last four characters for keys of MinLength characters or more, else nothing.
func (s String) Masked() string {
	if s.v == "" {
		return "(not set)"
	}
	if len(s.v) >= MinLength {
		return "****" + s.v[len(s.v)-4:]
	}
	return "****"
}

func (s String) String() string               { return s.redacted() }
func (s String) GoString() string             { return s.redacted() }
func (s String) LogValue() slog.Value         { return slog.StringValue(s.redacted()) }
func (s String) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

func (s String) redacted() string {
	if s.v == "" {
		return ""
	}
	return "[REDACTED]"
}
