package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/vex-ioc/vex/core/secret"
	"log/slog"
	"os"

	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/kb"
)

// setup opens the real backend of a search: the API key from splunkd's
// storage/passwords, the vex engine and the KV store cache. The engine uses
// the host's vex data directory, so the cache, rate limit and daily quota
// are shared with every vex process of the same user.
type setup struct {
	Config    *config.Config
	RootCAs   *x509.CertPool // extra roots for splunkd's certificate; nil means the system roots
	App       string         // the app namespace; default splunk.AppName
	UserAgent string
	Logger    *slog.Logger
}

// open implements splunk.Config.Open.
func (s setup) open(ctx context.Context, info *splunk.SearchInfo, args splunk.Args) (*splunk.Backend, error) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	app := s.App
	if app == "" {
		app = splunk.AppName
	}
	sd, err := splunk.NewSplunkd(info.SplunkdURI, info.SessionKey, app, splunk.TLSOptions{
		RootCAs:                 s.RootCAs,
		AllowSelfSignedLoopback: s.Config.Splunk.AllowSelfSignedLoopback,
	})
	if err != nil {
		return nil, err
	}
	// An offline search reads the caches only, so it needs no key
	// and keeps working while splunkd's REST port is unreachable.
	var key secret.String
	if !args.Offline {
		if key, err = sd.APIKey(ctx); err != nil {
			return nil, fmt.Errorf("%w; check that splunkd is running and reachable at %s, or run the search with offline=true to use the cache", err, info.SplunkdURI)
		}
	}

	var opt enrich.OpenOptions
	opt.Logger, opt.UserAgent = log, s.UserAgent
	closers := []func() error{}
	// The analyst's knowledge base is used when it exists; the command
	// never creates one on a search head.
	if _, err := os.Stat(s.Config.KBPath()); err == nil {
		if k, err := kb.Open(ctx, s.Config.KBPath(), kb.Options{}); err == nil {
			opt.KB = k
			closers = append(closers, k.Close)
		} else {
			log.WarnContext(ctx, "knowledge base unavailable", "path", s.Config.KBPath(), "error", err)
		}
	}
	eng, err := enrich.Open(ctx, s.Config, key, opt)
	if err != nil {
		return nil, errors.Join(err, closeEach(closers))
	}
	closers = append([]func() error{eng.Close}, closers...)

	b := &splunk.Backend{Enricher: eng, Close: func() error { sd.CloseIdle(); return closeEach(closers) }}
	if args.KVStore && s.Config.Splunk.KVStore {
		kv := splunk.NewKVCache(sd, splunk.Collection)
		exists, err := kv.Exists(ctx)
		switch {
		case err != nil:
			// Find reports the same failure as a search warning.
			log.WarnContext(ctx, "KV store check failed", "collection", splunk.Collection, "error", err)
			b.Shared = kv
		case exists:
			b.Shared = kv
		default:
			log.InfoContext(ctx, "KV store collection not found; using the local cache only", "collection", splunk.Collection)
		}
	}
	return b, nil
}

func closeEach(closers []func() error) error {
	var errs []error
	for _, c := range closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}
