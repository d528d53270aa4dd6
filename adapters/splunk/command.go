package splunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

// Enricher looks indicators up. *enrich.Engine implements it.
type Enricher interface {
	Batch(ctx context.Context, inputs []string, req enrich.Request, emit func(i int, r enrich.Result)) enrich.BatchStats
}

// CachedBatcher is an Enricher that also reads its cache in bulk before it
// looks the rest up. *enrich.Engine implements it, and the command uses
// BatchCached when the Enricher has it.
type CachedBatcher interface {
	BatchCached(ctx context.Context, inputs []string, req enrich.Request, emit func(i int, r enrich.Result)) enrich.BatchStats
}

// SharedCache is a result cache that every search head reads and writes,
// such as the KV store collection. Keys come from Config.CacheKey.
type SharedCache interface {
	// Find returns the stored results for the keys it has; missing keys
	// are absent from the map.
	Find(ctx context.Context, keys []string) (map[string]enrich.Result, error)
	// Save stores results under their keys.
	Save(ctx context.Context, results map[string]enrich.Result) error
}

// Backend is what one search uses to look values up. It is opened on the
// first execute chunk, because splunkd also starts the command only to ask
// getinfo.
type Backend struct {
	Enricher Enricher
	Shared   SharedCache  // nil when the KV store is off or absent
	Close    func() error // releases the engine; may be nil
}

// Config wires the command to the rest of vex.
type Config struct {
	// Open builds the backend for a search.
	Open func(ctx context.Context, info *SearchInfo, args Args) (*Backend, error)
	// CacheKey returns the shared-cache key of an input value, normally
	// derived from its normalised IOC, and false for invalid input, which
	// is never cached. Nil keys the cache by the value as given.
	CacheKey func(mode enrich.Mode, value string) (string, bool)
	// SharedTTL is how old a shared-cache result may be when max_age is
	// not set; 0 means 24 hours.
	SharedTTL time.Duration
	Limits    Limits // zero means DefaultLimits
	Logger    *slog.Logger
	Now       func() time.Time
}

// maxMemo bounds the per-search map from value to rendered fields. Past it
// the map starts over; repeated values then come from the engine's cache.
const maxMemo = 200_000

// maxRowLimit caps how far a large maxresultrows can raise the per-chunk
// record limit.
const maxRowLimit = 2_000_000

// Run serves one invocation of the command: it reads chunks from in and
// writes replies to out until in ends. Protocol and setup errors are
// answered with an error reply, then returned. Run writes nothing to out
// except protocol chunks.
func Run(ctx context.Context, in io.Reader, out io.Writer, cfg Config) error {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SharedTTL == 0 {
		cfg.SharedTTL = 24 * time.Hour
	}
	r := NewReader(in, cfg.Limits)
	w := NewWriter(out)
	c := &command{cfg: cfg, log: cfg.Logger, memo: make(map[string]*cells), warned: make(map[string]bool)}
	defer c.close()

	// getinfo: declare the command and check its arguments.
	ch, err := r.Next()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return c.fail(w, err)
	}
	m, err := decodeInbound(ch.Metadata)
	if err == nil && m.Action != "getinfo" {
		err = protoErr(nil, "first chunk has action %q, want getinfo", m.Action)
	}
	if err != nil {
		return c.fail(w, err)
	}
	c.info = m.searchInfo()
	if c.args, err = ParseArgs(c.info.Args); err != nil {
		return c.fail(w, err)
	}
	if rows := 2 * c.info.MaxResultRows; rows > cfg.Limits.MaxRows {
		l := cfg.Limits
		l.MaxRows = min(rows, maxRowLimit)
		r.SetLimits(l)
	}
	c.maxRows = r.Limits().MaxRows
	c.log = c.log.With("sid", c.info.SID, "field", c.args.Field)
	if err := w.Write(getinfoReply{Type: "stateful", RequiredFields: []string{c.args.Field}}, nil); err != nil {
		return err
	}

	// execute: exactly one reply per chunk until splunkd closes stdin.
	for {
		ch, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.fail(w, err)
		}
		m, err := decodeInbound(ch.Metadata)
		if err == nil && m.Action != "execute" {
			err = protoErr(nil, "chunk has action %q, want execute", m.Action)
		}
		if err != nil {
			return c.fail(w, err)
		}
		body, err := c.execute(ctx, ch.Body)
		if err != nil {
			return c.fail(w, err)
		}
		reply := executeReply{Finished: m.Finished, Inspector: c.takeMessages()}
		if err := w.Write(reply, body); err != nil {
			return err
		}
	}
}

// command is the state of one search.
type command struct {
	cfg     Config
	log     *slog.Logger
	info    *SearchInfo
	args    Args
	maxRows int
	backend *Backend
	// deadline ends every lookup of the search once Args.Timeout has
	// passed since the first one started.
	deadline  time.Time
	sharedOff bool

	memo     map[string]*cells
	warned   map[string]bool
	messages [][2]string

	// Buffers reused from chunk to chunk.
	tbl     table
	out     []byte
	pending []string
	rowOut  [][]byte
}

func (c *command) fail(w *Writer, err error) error {
	c.log.Error("vex search command failed", "error", err)
	reply := executeReply{Finished: true, Error: err.Error(), Inspector: c.takeMessages()}
	if werr := w.Write(reply, nil); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

func (c *command) close() {
	if c.backend != nil && c.backend.Close != nil {
		if err := c.backend.Close(); err != nil {
			c.log.Warn("closing the vex engine failed", "error", err)
		}
	}
}

// warn queues a message for the next reply's inspector, once per key.
func (c *command) warn(key, format string, args ...any) {
	if c.warned[key] {
		return
	}
	c.warned[key] = true
	msg := fmt.Sprintf(format, args...)
	c.log.Warn(msg)
	c.messages = append(c.messages, [2]string{"WARN", msg})
}

func (c *command) takeMessages() *inspector {
	if len(c.messages) == 0 {
		return nil
	}
	in := &inspector{Messages: c.messages}
	c.messages = nil
	return in
}

// execute enriches one chunk and returns the reply body.
func (c *command) execute(ctx context.Context, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if err := c.tbl.parse(body, c.maxRows); err != nil {
		return nil, err
	}
	if len(c.tbl.header) == 0 {
		return nil, nil
	}
	field := c.tbl.column(c.args.Field)
	mv := c.tbl.column(mvPrefix + c.args.Field)

	// Collect the values not seen earlier in this search, in first-seen
	// order, so each is looked up once however often it repeats.
	if len(c.memo) > maxMemo {
		clear(c.memo)
	}
	c.pending = c.pending[:0]
	for i := range c.tbl.rows {
		single, multi := rowValues(c.tbl.row(i), field, mv)
		if single != nil {
			c.queue(single)
		}
		for _, v := range multi {
			c.queue([]byte(v))
		}
	}
	if len(c.pending) > 0 {
		if err := c.resolve(ctx); err != nil {
			return nil, err
		}
	}
	return c.render(field, mv), nil
}

func (c *command) queue(v []byte) {
	if _, seen := c.memo[string(v)]; seen {
		return
	}
	s := string(v)
	c.memo[s] = nil
	c.pending = append(c.pending, s)
}

// rowValues returns the row's values of the field: one value as a slice
// of the row, several decoded from the __mv_ partner, or nothing when the
// field is empty or absent.
func rowValues(row [][]byte, field, mv int) (single []byte, multi []string) {
	if mv >= 0 && len(row[mv]) > 0 {
		if values, ok := splitMultivalue(row[mv]); ok {
			multi = values[:0]
			for _, v := range values {
				if v != "" {
					multi = append(multi, v)
				}
			}
			if len(multi) == 1 {
				return []byte(multi[0]), nil
			}
			return nil, multi
		}
	}
	if field < 0 || len(row[field]) == 0 {
		return nil, nil
	}
	return row[field], nil
}
