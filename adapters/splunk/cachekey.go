package splunk

import (
	"fmt"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
)

// IOCCacheKey is the Config.CacheKey of the real command: mode, type and
// normalised IOC, so every spelling of one indicator shares an entry.
func IOCCacheKey(mode enrich.Mode, value string) (string, bool) {
	i, err := ioc.Parse(value)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%s:%s:%s", mode, i.Type, i.Value), true
}
