package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

// DefaultShutdownTimeout is how long Serve lets requests in flight finish
// after ctx ends.
const DefaultShutdownTimeout = 30 * time.Second

// ServeOptions configure Serve.
type ServeOptions struct {
	// TLS, when set, makes Serve serve HTTPS. LoadTLS builds one.
	TLS *tls.Config
	// TLSCert and TLSKey are PEM files loaded with LoadTLS when TLS is
	// nil; both set means HTTPS.
	TLSCert string
	TLSKey  string
	// OnServing runs once the server accepts requests, with the base URL
	// clients use. An error from it stops the server, and Serve returns it.
	OnServing func(baseURL string) error
	// Drain is how long Serve keeps serving after ctx ends, with /healthz
	// answering 503, before it stops accepting connections; zero means
	// none. It gives a load balancer time to take the replica out of
	// rotation, so clients do not meet a closed port.
	Drain time.Duration
	// ShutdownTimeout bounds the graceful shutdown (default
	// DefaultShutdownTimeout), which follows the drain.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Serve serves requests on ln until ctx ends. Then it reports 503 on
// /healthz while it keeps serving for the Drain period, stops accepting
// connections, and waits up to ShutdownTimeout for the requests in flight
// to finish. It does not close g.
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

	if opts.TLS == nil && (opts.TLSCert != "" || opts.TLSKey != "") {
		tc, err := LoadTLS(opts.TLSCert, opts.TLSKey, log)
		if err != nil {
			return err
		}
		opts.TLS = tc
	}
	useTLS := opts.TLS != nil
	srv.TLSConfig = opts.TLS

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
	baseURL := scheme + "://" + ClientAddr(ln.Addr()) + "/api/v3"
	log.Info("gateway listening", "url", baseURL)
	var stopErr error
	if opts.OnServing != nil {
		stopErr = opts.OnServing(baseURL)
	}

	if stopErr == nil {
		select {
		case err := <-errc:
			return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
		case <-ctx.Done():
		}
	}

	g.draining.Store(true)
	if stopErr == nil && opts.Drain > 0 {
		log.Info("draining: /healthz answers 503 while requests are still served", "drain", opts.Drain.String())
		drain := time.NewTimer(opts.Drain)
		select {
		case <-drain.C:
		case err := <-errc:
			drain.Stop()
			return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
		}
	}
	log.Info("shutting down; finishing requests in flight", "timeout", opts.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return errors.Join(stopErr, fmt.Errorf("graceful shutdown: %w", err))
	}
	log.Info("gateway stopped")
	return stopErr
}

// LoadTLS loads a PEM certificate (with its chain) and private key for
// Serve. It rejects a key file that other users may access, and logs a
// warning for one its group may read, since a group such as Debian's
// ssl-cert is a common way to share keys with services. Windows has no such
// mode bits, so the check does not apply there.
func LoadTLS(certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("serve.tls_cert and serve.tls_key must be set together")
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(keyFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS key %s: %w", keyFile, err)
		}
		switch perm := fi.Mode().Perm(); {
		case perm&0o007 != 0:
			return nil, fmt.Errorf("TLS key %s has mode %04o, so every user on the host can read it; run `chmod 600 %s` (or 640 for a group the gateway's user is in)",
				keyFile, perm, keyFile)
		case perm&0o070 != 0 && log != nil:
			log.Warn("TLS key is readable by its group; make sure only the gateway's user is in it, or run chmod 600", "path", keyFile, "mode", fmt.Sprintf("%04o", perm))
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// ClientAddr is addr as a client would dial it: a wildcard listener
// (0.0.0.0 or ::) is named by its loopback address, since "[::]" is no
// address to connect to.
func ClientAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}
