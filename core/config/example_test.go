package config_test

import (
	"fmt"

	"github.com/vex-ioc/vex/core/config"
)

func ExampleResolveAPIKey() {
	cfg := config.Default()
	getenv := func(name string) string {
		if name == "VT_API_KEY" {
			return "0123456789abcdef0123456789abcdef"
		}
		return ""
	}
	key, source, err := config.ResolveAPIKey("", getenv, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The key prints as a placeholder; Masked shows its last four characters.
	fmt.Println(source, key, key.Masked())
	// Output: VT_API_KEY [REDACTED] ****cdef
}
