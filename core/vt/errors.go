package vt

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors that callers branch on with errors.Is. An *Error matches
// the sentinel for its HTTP status or VirusTotal error code.
var (
	// ErrNotFound means VirusTotal has no record of the object: the error
	// code NotFoundError. A 404 without that code (an HTML page from a
	// proxy, a wrong base URL) does not match, so a misconfiguration is
	// never reported as "not in VirusTotal".
	ErrNotFound = errors.New("not found in virustotal")
	// ErrQuotaExceeded means the per-minute rate or the daily quota of the
	// key is spent (429, QuotaExceededError, TooManyRequestsError).
	ErrQuotaExceeded = errors.New("virustotal quota exceeded")
	// ErrUnauthorized means the key is missing or wrong (401,
	// WrongCredentialsError, AuthenticationRequiredError, UserNotActiveError).
	ErrUnauthorized = errors.New("virustotal rejected the api key")
	// ErrForbidden means the key may not use the endpoint, typically a
	// premium-only one (403, ForbiddenError).
	ErrForbidden = errors.New("virustotal denied access")
	// ErrBadRequest means VirusTotal rejected the request itself (400,
	// BadRequestError, InvalidArgumentError and related codes).
	ErrBadRequest = errors.New("virustotal rejected the request")
	// ErrServer means VirusTotal failed (any 5xx status).
	ErrServer = errors.New("virustotal server error")
	// ErrDecode means a 2xx body was not the JSON shape the caller expects.
	ErrDecode = errors.New("invalid virustotal response")
	// ErrBodyTooLarge means a response body exceeded Config.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("virustotal response body too large")
	// ErrTruncated means the connection ended before the body was complete.
	ErrTruncated = errors.New("virustotal response body truncated")
)

// Error is a non-2xx response from VirusTotal, built from its error body
// {"error":{"code":...,"message":...}} when there is one.
type Error struct {
	Status  int    // HTTP status code
	Code    string // VirusTotal error code such as NotFoundError; empty when the body had none
	Message string // VirusTotal's message, with control characters removed and the API key redacted
	// RetryAfter is the server's Retry-After delay, zero when absent.
	RetryAfter time.Duration
	// Path is the request path relative to the base URL, without the query.
	// The API key is never part of it because it travels in a header.
	Path string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "virustotal %s: status %d", e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is matches the sentinel errors of this package by status and code, so
// errors.Is(err, vt.ErrNotFound) works on a wrapped *Error.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == "NotFoundError"
	case ErrQuotaExceeded:
		return e.Status == 429 || e.Code == "QuotaExceededError" || e.Code == "TooManyRequestsError"
	case ErrUnauthorized:
		return e.Status == 401 || e.Code == "WrongCredentialsError" ||
			e.Code == "AuthenticationRequiredError" || e.Code == "UserNotActiveError"
	case ErrForbidden:
		return e.Status == 403 || e.Code == "ForbiddenError"
	case ErrBadRequest:
		switch e.Code {
		case "BadRequestError", "InvalidArgumentError", "NotAvailableYet",
			"UnselectiveContentQueryError", "UnsupportedContentQueryError":
			return true
		}
		return e.Status == 400
	case ErrServer:
		return e.Status >= 500 && e.Status <= 599
	}
	return false
}

// Retryable reports whether sending the request again may succeed: a 429
// or a 5xx, except the vex gateway's 502 UpstreamAuthenticationError. That
// code means VirusTotal rejected the gateway's own key, which stays wrong
// until the gateway operator fixes it.
func (e *Error) Retryable() bool {
	if e.Code == "UpstreamAuthenticationError" {
		return false
	}
	return e.Status == 429 || e.Status >= 500
}

// maxMessageLen bounds the VirusTotal message copied into an Error, because
// the body comes from the network and ends up in terminal output.
const maxMessageLen = 300

// cleanMessage removes control characters (terminal escapes included),
// redacts the key and shortens s for use in an error string.
func cleanMessage(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, redacted)
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r), r == unicode.ReplacementChar,
			unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

const redacted = "[REDACTED]"
