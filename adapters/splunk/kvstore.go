package splunk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

// Collection is the KV store collection the app declares in
// collections.conf for shared results.
const Collection = "vex_cache"

// kvBatch bounds the queries or documents in one batch call; splunkd's
// default limits (max_queries_per_batch, max_documents_per_batch_save in
// limits.conf [kvstore]) are 1000.
const kvBatch = 500

// KVCache is a SharedCache in a KV store collection. Each document holds
// one result as JSON under a key derived from the cache key.
type KVCache struct {
	s          *Splunkd
	collection string
}

// NewKVCache returns a cache in collection of the client's app.
func NewKVCache(s *Splunkd, collection string) *KVCache {
	return &KVCache{s: s, collection: collection}
}

// kvDoc is one stored result. _key is a hash because KV store keys end up
// in URL paths, and IOCs such as URLs may hold any character.
type kvDoc struct {
	Key       string `json:"_key"`
	CacheKey  string `json:"key"`
	FetchedAt int64  `json:"fetched_at"`
	Result    string `json:"result"`
}

func docKey(cacheKey string) string {
	h := sha256.Sum256([]byte(cacheKey))
	return hex.EncodeToString(h[:])
}

func (k *KVCache) path(op string) string {
	return "/storage/collections/data/" + url.PathEscape(k.collection) + "/" + op
}

// Exists reports whether the collection is defined, so a missing app
// configuration turns the cache off quietly rather than warning each search.
func (k *KVCache) Exists(ctx context.Context) (bool, error) {
	err := k.s.do(ctx, "check the KV store collection "+k.collection, http.MethodGet,
		"/storage/collections/config/"+url.PathEscape(k.collection), nil, nil, nil)
	if se, ok := err.(*StatusError); ok && se.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// Find implements SharedCache with batch_find, one query per key.
func (k *KVCache) Find(ctx context.Context, keys []string) (map[string]enrich.Result, error) {
	found := make(map[string]enrich.Result)
	for start := 0; start < len(keys); start += kvBatch {
		part := keys[start:min(start+kvBatch, len(keys))]
		queries := make([]map[string]any, len(part))
		for i, key := range part {
			queries[i] = map[string]any{"query": map[string]string{"_key": docKey(key)}, "limit": 1}
		}
		var answers [][]kvDoc
		if err := k.s.do(ctx, "read the KV store cache", http.MethodPost, k.path("batch_find"), nil, queries, &answers); err != nil {
			return nil, err
		}
		for _, docs := range answers {
			for _, d := range docs {
				var r enrich.Result
				if json.Unmarshal([]byte(d.Result), &r) != nil || d.CacheKey == "" {
					continue // a document from another version: look it up again
				}
				if r.FetchedAt.IsZero() {
					r.FetchedAt = time.Unix(d.FetchedAt, 0)
				}
				found[d.CacheKey] = r
			}
		}
	}
	return found, nil
}

// Save implements SharedCache with batch_save, which inserts or replaces
// documents by _key.
func (k *KVCache) Save(ctx context.Context, results map[string]enrich.Result) error {
	docs := make([]kvDoc, 0, min(len(results), kvBatch))
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := k.s.do(ctx, "write the KV store cache", http.MethodPost, k.path("batch_save"), nil, docs, nil)
		docs = docs[:0]
		return err
	}
	for key, r := range results {
		// Input is the text of one event, not part of the shared answer.
		r.Input = ""
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result for the KV store: %w", err)
		}
		docs = append(docs, kvDoc{Key: docKey(key), CacheKey: key, FetchedAt: r.FetchedAt.Unix(), Result: string(b)})
		if len(docs) == kvBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
