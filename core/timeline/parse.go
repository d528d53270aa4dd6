package timeline

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bounds for epoch numbers. VirusTotal sends seconds; a number between
// msLow and msHigh is read as milliseconds, because as seconds it would
// lie after the year 5138, while in milliseconds it covers 1973 to 5138.
const (
	msLow  = 1e11
	msHigh = 1e14
)

// ParseTime decodes a timestamp as VirusTotal payloads carry it: epoch
// seconds as a JSON number (float64 or json.Number), a Go integer, a string
// of digits, or an RFC 3339 or "YYYY-MM-DD[ HH:MM:SS]" string; a time.Time
// passes through. It reports false for a missing, zero, negative, NaN or
// unparsable value and for one after the year 9999, which JSON cannot
// encode. Other far-future times are kept.
func ParseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case float64:
		return fromEpoch(v)
	case float32:
		return fromEpoch(float64(v))
	case int:
		return fromEpoch(float64(v))
	case int32:
		return fromEpoch(float64(v))
	case int64:
		return fromEpoch(float64(v))
	case uint32:
		return fromEpoch(float64(v))
	case uint64:
		return fromEpoch(float64(v))
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return fromEpoch(f)
	case string:
		return fromString(v)
	case time.Time:
		if plausible(v) {
			return v.UTC(), true
		}
	}
	return time.Time{}, false
}

func fromEpoch(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return time.Time{}, false
	}
	if f >= msLow && f < msHigh {
		f /= 1000
	}
	if f >= 253402300800 { // 10000-01-01T00:00:00Z
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	return t, plausible(t)
}

var stringLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

func fromString(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return fromEpoch(f)
	}
	for _, layout := range stringLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return t, plausible(t)
		}
	}
	return time.Time{}, false
}

// plausible reports whether t is after the Unix epoch and before the year
// 10000. VirusTotal never dates anything before 1970, so an earlier time is
// a decoding artefact such as a zero or negative field.
func plausible(t time.Time) bool {
	return t.Unix() > 0 && t.Year() <= 9999
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}
