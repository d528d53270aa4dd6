package config

import (
	"fmt"
	"strings"

	"github.com/vex-ioc/vex/core/secret"
)

// Source names where the API key came from.
type Source string

// Key sources, in priority order.
const (
	SourceFlag Source = "flag"        // -k/--api-key
	SourceEnv  Source = "VT_API_KEY"  // the environment variable
	SourceFile Source = "config file" // api.key
	SourceNone Source = ""
)

// EnvAPIKey is the environment variable that holds the API key.
const EnvAPIKey = "VT_API_KEY"

// ResolveAPIKey picks the API key: the flag value, then $VT_API_KEY, then
// api.key in cfg. Surrounding whitespace is trimmed, since keys pasted into a
// shell or file often carry a newline. When no source has a key the error
// wraps ErrNoAPIKey and tells how to set one. getenv is os.Getenv in
// production; cfg may be nil.
func ResolveAPIKey(flag string, getenv func(string) string, cfg *Config) (secret.String, Source, error) {
	candidates := []struct {
		value  string
		source Source
	}{
		{flag, SourceFlag},
		{getenv(EnvAPIKey), SourceEnv},
	}
	if cfg != nil {
		candidates = append(candidates, struct {
			value  string
			source Source
		}{cfg.API.Key.Reveal(), SourceFile})
	}
	for _, c := range candidates {
		v := strings.TrimSpace(c.value)
		if v == "" {
			continue
		}
		if err := checkSecret(v); err != nil {
			return secret.String{}, c.source, fmt.Errorf("%w: the API key from %s %v", ErrInvalidValue, describe(c.source), err)
		}
		return secret.New(v), c.source, nil
	}
	return secret.String{}, SourceNone, fmt.Errorf("%w: run `vex config --set-api-key` to store one, or set %s", ErrNoAPIKey, EnvAPIKey)
}

func describe(s Source) string {
	switch s {
	case SourceFlag:
		return "--api-key"
	case SourceEnv:
		return "$" + EnvAPIKey
	}
	return "the config file"
}
