package report

import (
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
)

// defang returns the defanged form of a valid IOC and any other string
// unchanged, so text that is not an indicator is never mangled.
func defang(s string) string { return ioc.Defang(s) }

// defangInput defangs the input as given. A hash input is kept as typed,
// because defanging leaves hashes alone and would only lowercase it.
func defangInput(r enrich.Result) string {
	if r.Type.IsHash() {
		return r.Input
	}
	return defang(r.Input)
}
