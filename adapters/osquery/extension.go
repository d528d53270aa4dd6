package osquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	osq "github.com/osquery/osquery-go"
)

// ExtensionName is the name vex registers with osquery; `SELECT * FROM
// osquery_extensions` shows it.
const ExtensionName = "vex"

// Options configure Run.
type Options struct {
	// Socket is osquery's extension manager socket (--socket).
	Socket string
	// ConnectTimeout is how long to wait for the socket to appear, osquery's
	// --timeout in seconds. Default 3 s, osquery's own default.
	ConnectTimeout time.Duration
	// PingInterval is how often osquery is checked, osquery's --interval in
	// seconds. Default 3 s.
	PingInterval time.Duration
	// Reconnect is how long to keep trying to register again after osquery
	// went away, for example while it restarts. 0 means exit at once.
	Reconnect time.Duration
	// Engine serves vex_triage and vex_investigate; nil leaves them out.
	Engine Engine
	// KB serves vex_tags and vex_watchlist; nil leaves them out.
	KB       KnowledgeBase
	Settings Settings
	Version  string
	Logger   *slog.Logger
}

// ErrNoTables means Options gave neither an engine nor a knowledge base.
var ErrNoTables = errors.New("no tables to serve: give an engine or a knowledge base")

// Run registers the vex tables with osquery and serves them until ctx is
// cancelled or osquery asks the extension to shut down, both of which
// return nil. When osquery goes away it registers again as soon as the
// socket is back, for up to opt.Reconnect, and otherwise returns an error.
// It never returns while a table call is still running.
func Run(ctx context.Context, opt Options) error {
	opt = withDefaults(opt)
	if opt.Engine == nil && opt.KB == nil {
		return ErrNoTables
	}
	if err := opt.Settings.Validate(); err != nil {
		return err
	}

	var lostAt time.Time
	for attempt := 0; ; attempt++ {
		// stop ends the table calls of this registration when it ends.
		stop, cancel := context.WithCancel(context.Background())
		plugins := buildPlugins(opt, stop)

		s, err := register(ctx, opt, plugins)
		if err == nil {
			opt.Logger.Info("registered with osquery", "socket", opt.Socket, "extension", ExtensionName, "tables", len(plugins))
			err = s.serve(ctx, opt, cancel)
			if err == nil {
				cancel()
				return nil
			}
			opt.Logger.Warn("lost osquery; registering again when it is back", "socket", opt.Socket, "error", err, "reconnect_for", opt.Reconnect)
			lostAt = time.Now()
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}

		// A first connection that fails is fatal right away, as in every
		// osquery extension: osquery starts the socket before extensions.
		if lostAt.IsZero() {
			return fmt.Errorf("connect to osquery at %s: %w; check --socket and that osqueryd runs", opt.Socket, err)
		}
		if time.Since(lostAt) > opt.Reconnect {
			return fmt.Errorf("osquery at %s did not come back within %s: %w", opt.Socket, opt.Reconnect, err)
		}
		opt.Logger.Debug("osquery not back yet", "socket", opt.Socket, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opt.PingInterval):
		}
	}
}

func withDefaults(opt Options) Options {
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 3 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = 3 * time.Second
	}
	def := DefaultSettings()
	if opt.Settings.Timeout == 0 {
		opt.Settings.Timeout = def.Timeout
	}
	if opt.Settings.MaxIOCs == 0 {
		opt.Settings.MaxIOCs = def.MaxIOCs
	}
	if opt.Settings.Concurrency == 0 {
		opt.Settings.Concurrency = def.Concurrency
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	return opt
}

func buildPlugins(opt Options, stop context.Context) []osq.OsqueryPlugin {
	var out []osq.OsqueryPlugin
	if opt.Engine != nil {
		out = append(out, newTriage(opt.Engine, opt.Settings, stop, opt.Logger), newInvestigate(opt.Engine, opt.Settings, stop, opt.Logger))
	}
	if opt.KB != nil {
		out = append(out, newTags(opt.KB, opt.Settings, stop, opt.Logger), newWatchlist(opt.KB, opt.Settings, stop, opt.Logger))
	}
	return out
}

// session is one registration with one osquery process.
type session struct {
	client *osq.ExtensionManagerClient
	server *extensionServer
	done   chan error // receives what Start returned
}

// register connects to osquery, registers the plugins and starts serving
// them on the extension's own socket.
func register(ctx context.Context, opt Options, plugins []osq.OsqueryPlugin) (*session, error) {
	// One client of our own serves the extension server and the ping loop
	// below, so nothing is left running when osquery goes away.
	client, err := osq.NewClient(opt.Socket, opt.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	server, err := newExtensionServer(ExtensionName, opt.Version, opt.Socket, client, plugins)
	if err != nil {
		client.Close()
		return nil, err
	}

	s := &session{client: client, server: server, done: make(chan error, 1)}
	go func() { s.done <- server.Start() }()

	// Start returns at once when osquery rejects the registration, which
	// is usually quick enough to catch here; a later rejection reaches
	// serve through s.done.
	select {
	case err := <-s.done:
		if err == nil {
			// osquery asked for a shutdown right after registering; serve
			// sees the same nil and stops.
			s.done <- nil
			return s, nil
		}
		client.Close()
		return nil, err
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
		s.close(opt)
		return nil, ctx.Err()
	}
	return s, nil
}

// serve pings osquery until ctx is cancelled (nil), osquery shuts the
// extension down over Thrift (nil) or osquery stops answering (an error).
// cancelCalls stops the running table calls before the server stops, so
// shutdown never waits for a slow lookup.
func (s *session) serve(ctx context.Context, opt Options, cancelCalls context.CancelFunc) error {
	ticker := time.NewTicker(opt.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			opt.Logger.Info("shutting down", "reason", "signal")
			cancelCalls()
			s.close(opt)
			return nil

		case err := <-s.done:
			cancelCalls()
			s.client.Close()
			if err != nil {
				// Registration was rejected or the socket could not be
				// served: treat it like losing osquery and try again.
				return fmt.Errorf("extension server: %w", err)
			}
			// Only Stop makes Serve return nil, and only osquery's shutdown
			// request calls it while this loop runs.
			opt.Logger.Info("shutting down", "reason", "osquery requested shutdown")
			return nil

		case <-ticker.C:
			pctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout+opt.PingInterval)
			st, err := s.client.PingContext(pctx)
			cancel()
			if err == nil && st.Code != 0 {
				err = fmt.Errorf("ping returned status %d: %s", st.Code, st.Message)
			}
			if err != nil && ctx.Err() == nil {
				cancelCalls()
				s.close(opt)
				return err
			}
		}
	}
}

// close deregisters (best effort: osquery may be gone), stops the server
// and waits for it, then closes the client.
func (s *session) close(opt Options) {
	sctx, cancel := context.WithTimeout(context.Background(), opt.ConnectTimeout)
	defer cancel()
	if err := s.server.Shutdown(sctx); err != nil {
		opt.Logger.Debug("deregister from osquery", "error", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		opt.Logger.Warn("extension server did not stop within 10s")
	}
	s.client.Close()
}
