package enrich

import (
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// Unread returns the result of an input that a stopped run never looked up.
// An invalid input, or a non-routable address when allowNonRoutable is
// false, gets the status it would have had, because neither needs a
// request. Any other input is cancelled. Every input of an interrupted batch thus
// still gets exactly one result.
func Unread(input string, mode Mode, allowNonRoutable bool) Result {
	r := Result{Input: input, Mode: mode, Source: SourceNone, Verdict: verdict.Unknown}
	i, err := ioc.Parse(input)
	if err != nil {
		r.Status, r.Error = StatusInvalid, invalidReason(err)
		return r
	}
	r.Type, r.Normalized, r.Flags = i.Type, i.Value, i.Flags
	if i.Has(ioc.FlagNonRoutable) && !allowNonRoutable {
		r.Status = StatusNonRoutable
		return r
	}
	r.Status, r.Error = StatusCancelled, "not looked up: run cancelled"
	return r
}
