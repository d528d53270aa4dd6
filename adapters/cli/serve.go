package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/adapters/gateway/redisstate"
)

type serveFlags struct {
	addr     string
	replicas int
	shutdown time.Duration
}

func (a *app) newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT]",
		Short: "Run the VirusTotal gateway that vex clients of a fleet share",
		Long: `Serve runs an HTTP gateway that answers the part of the VirusTotal API v3
that vex uses. vex clients (CLI, osquery extension, Splunk command) set
api.base_url to http(s)://HOST:PORT/api/v3 and api.key to a gateway token;
only the gateway holds the VirusTotal key.

Settings come from the [serve] table of the config file: addr, tls_cert and
tls_key, redis_url, drain, metrics_token, and [[serve.tokens]] entries with
name, token and rate_per_minute. The [api] table sets the VirusTotal key, base URL and the
limits of the whole deployment. With serve.redis_url the cache, the limits
and in-flight lookups are shared by every replica through Redis; without it
the gateway runs as one instance on the SQLite cache and ledger of the data
directory.

The first line on stdout is the base URL clients use, printed once the
gateway accepts requests. Access logs go to stderr as JSON lines (VEX_LOG
sets the level, default info). SIGINT or SIGTERM turns /healthz to 503 for
serve.drain (default 5s) while requests are still served, then stops
accepting connections and lets requests in flight finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runServe(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "", "listen `HOST:PORT` (default serve.addr, 127.0.0.1:8080)")
	fl.IntVar(&f.replicas, "replicas", 1, "number of gateway replicas sharing Redis; each takes 1/`N` of the limits while Redis is unreachable")
	fl.DurationVar(&f.shutdown, "shutdown-timeout", gateway.DefaultShutdownTimeout, "how long requests in flight may take to finish on shutdown")
	return cmd
}

func (a *app) runServe(ctx context.Context, f serveFlags) error {
	if f.replicas < 1 {
		return usageErr("invalid --replicas %d: want 1 or more", f.replicas)
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	key, err := a.apiKey(cfg, false)
	if err != nil {
		return err
	}
	addr := cfg.Serve.Addr
	if f.addr != "" {
		addr = f.addr
	}

	level := slog.LevelInfo
	if v := a.env.Getenv("VEX_LOG"); v != "" {
		level = logLevel(v)
	}
	logger := slog.New(gateway.NewComponentHandler(slog.NewJSONHandler(a.io.Err, &slog.HandlerOptions{Level: level}), "vex-serve"))
	redisstate.RouteLogs(logger.With("component", "go-redis"))

	// The TLS files are checked first, so a bad certificate or an exposed
	// key stops the start before any state is opened or URL printed.
	var tlsConfig *tls.Config
	if cfg.Serve.TLSCert != "" || cfg.Serve.TLSKey != "" {
		tlsConfig, err = gateway.LoadTLS(cfg.Serve.TLSCert, cfg.Serve.TLSKey, logger)
		if err != nil {
			return &ExitError{Code: ExitConfig, Err: err, Hint: "check serve.tls_cert and serve.tls_key"}
		}
	}

	g, err := gateway.Open(ctx, cfg, key, gateway.OpenOptions{
		Replicas:  f.replicas,
		UserAgent: "vex/" + Version,
		Logger:    logger,
	})
	if err != nil {
		return &ExitError{Code: ExitConfig, Err: fmt.Errorf("start the gateway: %w", err)}
	}
	defer g.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ExitError{Code: ExitConfig, Err: fmt.Errorf("listen on %s: %w", addr, err), Hint: "set another address with --addr or serve.addr"}
	}
	if tlsConfig == nil && !loopback(ln.Addr()) {
		// Tokens travel in a header: on plain HTTP anyone on the path
		// reads them.
		logger.Warn("serving plain HTTP on a non-loopback address: client tokens cross the network in clear text; set serve.tls_cert and serve.tls_key, or put a TLS-terminating proxy in front",
			"addr", ln.Addr().String())
	}
	logger.Info("gateway starting", "addr", ln.Addr().String(), "upstream", cfg.API.BaseURL,
		"clients", len(cfg.Serve.Tokens), "per_minute", cfg.API.PerMinute, "per_day", cfg.API.PerDay,
	)
	return gateway.Serve(ctx, ln, g, gateway.ServeOptions{
		TLS:             tlsConfig,
		Drain:           cfg.Serve.Drain,
		ShutdownTimeout: f.shutdown,
		Logger:          logger,
		// The URL goes to stdout only once the server accepts requests.
		OnServing: func(baseURL string) error {
			_, err := fmt.Fprintln(a.io.Out, baseURL)
			return err
		},
	})
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
