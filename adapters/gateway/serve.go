package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownTimeout is how long Serve lets requests in flight finish
// after ctx ends.
const DefaultShutdownTimeout = 30 * time.Second

// ServeOptions configure Serve.
type ServeOptions struct {
	// TLSCert and TLSKey are PEM files; both set means HTTPS.
	TLSCert string
	TLSKey  string
	// ShutdownTimeout bounds the graceful shutdown (default
	// DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Serve serves requests on ln until ctx ends, then stops accepting
// connections, reports 503 on /healthz, and waits up to ShutdownTimeout
// for the requests in flight to finish. It does not close g.
func Serve(ctx context.Context, ln net.Listener, g *Gateway, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	useTLS := opts.TLSCert != "" || opts.TLSKey != ""
	if useTLS {
		// Loading here reports a bad file before the first client does.
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", opts.TLSCert, opts.TLSKey, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	log.Info("gateway listening", "url", scheme+"://"+ln.Addr().String()+"/api/v3")

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	log.Info("shutting down; finishing requests in flight", "timeout", opts.ShutdownTimeout.String())
	g.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("gateway stopped")
	return nil
}
