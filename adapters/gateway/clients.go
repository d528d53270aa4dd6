package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
)

// Client is one holder of a gateway token.
type Client struct {
	Name  string
	Token secret.String
	// PerMinute is the client's request limit in any 60 s window, cache
	// hits included; 0 means no limit of its own.
	PerMinute int
}

// ClientLimiter admits a client's request or returns how long the client
// must wait. MemoryClients and redisstate.Clients implement it.
type ClientLimiter interface {
	Allow(ctx context.Context, client string, perMinute int) (retryAfter time.Duration, err error)
}

// tokens finds the client of an x-apikey value.
type tokens struct {
	byHash map[[sha256.Size]byte]Client
}

// newTokens checks the clients and indexes their tokens. A token must be at
// least secret.MinLength characters long and must not be one of apiKeys,
// because a client holding a VirusTotal key does not need the gateway, and
// the key would then sit on every host the gateway is meant to keep it off.
func newTokens(clients []Client, apiKeys ...secret.String) (*tokens, error) {
	if len(clients) == 0 {
		return nil, errors.New("no gateway tokens: add at least one [[serve.tokens]] entry with a name and a token, because the gateway serves authenticated clients only")
	}
	t := &tokens{byHash: map[[sha256.Size]byte]Client{}}
	for _, c := range clients {
		if c.Name == "" || c.Token.IsZero() {
			return nil, errors.New("gateway token with an empty name or token: every [[serve.tokens]] entry needs both")
		}
		if n := utf8.RuneCountInString(c.Token.Reveal()); n < secret.MinLength {
			return nil, fmt.Errorf("gateway token of client %q is too short (%d of at least %d characters): make one with `openssl rand -hex 32`", c.Name, n, secret.MinLength)
		}
		for _, k := range apiKeys {
			if !k.IsZero() && subtle.ConstantTimeCompare([]byte(k.Reveal()), []byte(c.Token.Reveal())) == 1 {
				return nil, fmt.Errorf("gateway token of client %q is the VirusTotal API key: give the client its own token, made with `openssl rand -hex 32`", c.Name)
			}
		}
		h := sha256.Sum256([]byte(c.Token.Reveal()))
		if prev, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("gateway clients %q and %q have the same token: give each client its own", prev.Name, c.Name)
		}
		t.byHash[h] = c
	}
	return t, nil
}

// lookup returns the client whose token is presented. Hashing first makes
// the map lookup independent of how many leading bytes match, and the
// constant-time compare guards the final check.
func (t *tokens) lookup(presented string) (Client, bool) {
	c, ok := t.byHash[sha256.Sum256([]byte(presented))]
	if !ok || subtle.ConstantTimeCompare([]byte(c.Token.Reveal()), []byte(presented)) != 1 {
		return Client{}, false
	}
	return c, true
}

// MemoryClients is a ClientLimiter held in the process: the limiter of a
// gateway without Redis, and the fallback of redisstate.Clients.
type MemoryClients struct {
	now func() time.Time

	mu      sync.Mutex
	windows map[string][]time.Time
}

// NewMemoryClients returns an empty limiter; now defaults to time.Now.
func NewMemoryClients(now func() time.Time) *MemoryClients {
	if now == nil {
		now = time.Now
	}
	return &MemoryClients{now: now, windows: map[string][]time.Time{}}
}

// Allow admits one request when fewer than perMinute of the client's
// requests lie in the last 60 s, and otherwise returns when the oldest that
// matters leaves the window. perMinute < 1 admits everything.
func (m *MemoryClients) Allow(_ context.Context, client string, perMinute int) (time.Duration, error) {
	if perMinute < 1 {
		return 0, nil
	}
	now := m.now()
	cutoff := now.Add(-ratelimit.Window)

	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.windows[client][:0]
	for _, t := range m.windows[client] {
		if t.After(cutoff) {
			live = append(live, t)
		}
	}
	if len(live) < perMinute {
		m.windows[client] = append(live, now)
		return 0, nil
	}
	m.windows[client] = live
	sorted := append([]time.Time(nil), live...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Before(sorted[j]) })
	wait := sorted[len(sorted)-perMinute].Add(ratelimit.Window).Sub(now)
	return max(wait, time.Millisecond), nil
}
