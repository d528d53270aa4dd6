package osquery

import (
	"fmt"
	"time"
)

// Defaults for Settings. The config file's [osquery] section sets timeout
// and max_iocs; core/config applies the same defaults.
const (
	// DefaultTimeout is the per-call deadline. osquery gives up on an
	// extension call after 300 s (its Thrift timeout); 60 s leaves room for
	// several rate-limited lookups while staying far below that.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxIOCs caps the IOCs one call looks up.
	DefaultMaxIOCs = 1000
	// DefaultConcurrency is how many lookups of one call run at once. The
	// engine's shared limiter still decides how fast requests leave.
	DefaultConcurrency = 8
	// MaxTimeout keeps the deadline under osquery's 300 s Thrift timeout
	// with a margin for building and sending the rows.
	MaxTimeout = 290 * time.Second
)

// Settings tune the tables.
type Settings struct {
	// Timeout is the deadline of one table call. IOCs not done by then are
	// rows with a timeout error.
	Timeout time.Duration
	// MaxIOCs is the most IOCs one call looks up; the rest are error rows.
	MaxIOCs int
	// Concurrency is how many lookups of one call run at once.
	Concurrency int
}

// DefaultSettings returns the settings used when nothing is configured.
func DefaultSettings() Settings {
	return Settings{Timeout: DefaultTimeout, MaxIOCs: DefaultMaxIOCs, Concurrency: DefaultConcurrency}
}

// Validate reports a setting out of range.
func (s Settings) Validate() error {
	if s.Timeout <= 0 || s.Timeout > MaxTimeout {
		return fmt.Errorf("invalid [osquery] timeout %s: set it between 1s and %s, under osquery's 300s call timeout", s.Timeout, MaxTimeout)
	}
	if s.MaxIOCs <= 0 {
		return fmt.Errorf("invalid [osquery] max_iocs %d: set a positive number", s.MaxIOCs)
	}
	if s.Concurrency <= 0 {
		return fmt.Errorf("invalid lookup concurrency %d: set a positive number", s.Concurrency)
	}
	return nil
}
