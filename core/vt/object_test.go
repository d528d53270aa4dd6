package vt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

func TestDecodeObjectShapes(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr bool
		typ, id string
	}{
		{"full", `{"data":{"type":"file","id":"abc","attributes":{"size":3},"links":{"self":"x","n":1}}}`, false, "file", "abc"},
		{"no attributes", `{"data":{"type":"domain","id":"a.com"}}`, false, "domain", "a.com"},
		{"wrong field types", `{"data":{"type":5,"id":[],"attributes":"x","links":[]}}`, false, "", ""},
		{"data list", `{"data":[]}`, true, "", ""},
		{"data string", `{"data":"x"}`, true, "", ""},
		{"data null", `{"data":null}`, true, "", ""},
		{"bare object", `{"type":"file","id":"abc","attributes":{}}`, true, "", ""},
		{"not json", `<html>`, true, "", ""},
		{"empty", ``, true, "", ""},
		{"top-level list", `[1,2]`, true, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := vt.DecodeObject([]byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, vt.ErrDecode) {
					t.Fatalf("err = %v, want ErrDecode", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Type != tc.typ || o.ID != tc.id {
				t.Errorf("type, id = %q, %q; want %q, %q", o.Type, o.ID, tc.typ, tc.id)
			}
			if len(o.Raw) == 0 || !json.Valid(o.Raw) {
				t.Errorf("Raw = %q, want the object's JSON", o.Raw)
			}
		})
	}
}

func TestAttributesAccessors(t *testing.T) {
	o, err := vt.DecodeObject([]byte(`{"data":{"type":"file","id":"x","attributes":{
		"s": "text", "n": 12, "big": 9007199254740993, "f": 1.5, "fs": "2.5", "ns": " 42 ",
		"b": true, "bs": "true", "t": 1700000000, "tf": 1700000000.5, "ts": "1700000000",
		"t3339": "2024-05-01T10:00:00+02:00", "tneg": -5, "thuge": 1e20,
		"list": ["a", 1, "b", null], "nested": {"deep": {"v": "x"}}, "nul": null,
		"last_analysis_stats": {"malicious": "5", "suspicious": 1.0, "undetected": 60,
			"timeout": "x", "type-unsupported": 2, "failure": 1}
	}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a := o.Attributes
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"String", a.String("s"), "text"},
		{"String of number", a.String("n"), "12"},
		{"String missing", a.String("missing", "x"), ""},
		{"String through non-map", a.String("s", "x"), ""},
		{"Int64", a.Int64("n"), int64(12)},
		{"Int64 exact big", a.Int64("big"), int64(9007199254740993)},
		{"Int64 float with fraction", a.Int64("f"), int64(0)},
		{"Int64 numeric string", a.Int64("ns"), int64(42)},
		{"Int64 of string", a.Int64("s"), int64(0)},
		{"Float", a.Float("f"), 1.5},
		{"Float string", a.Float("fs"), 2.5},
		{"Bool", a.Bool("b"), true},
		{"Bool string", a.Bool("bs"), true},
		{"Bool of number", a.Bool("n"), false},
		{"Time", a.Time("t"), time.Unix(1700000000, 0).UTC()},
		{"Time float", a.Time("tf"), time.Unix(1700000000, 5e8).UTC()},
		{"Time string", a.Time("ts"), time.Unix(1700000000, 0).UTC()},
		{"Time RFC3339", a.Time("t3339"), time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)},
		{"Time negative", a.Time("tneg"), time.Time{}},
		{"Time huge", a.Time("thuge"), time.Time{}},
		{"Time of text", a.Time("s"), time.Time{}},
		{"Strings", fmt.Sprint(a.Strings("list")), "[a b]"},
		{"Strings single", fmt.Sprint(a.Strings("s")), "[text]"},
		{"Map nested", a.Map("nested").String("deep", "v"), "x"},
		{"Map of string", a.Map("s") == nil, true},
		{"Slice", len(a.Slice("list")), 4},
		{"Slice of map", a.Slice("nested") == nil, true},
		{"null present", fmt.Sprint(lookupOK(a, "nul")), "false"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if got := a.Time("t").Location(); got != time.UTC {
		t.Errorf("Time location = %v, want UTC", got)
	}

	want := verdict.Stats{Malicious: 5, Suspicious: 1, Undetected: 60, TypeUnsupported: 2, Failure: 1}
	if got := o.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if !o.HasStats() {
		t.Error("HasStats = false")
	}
	// DecodeObject rejects impossible counts; Stats still reads them as 0
	// on an Object built by hand.
	built := &vt.Object{Attributes: vt.Attributes{"last_analysis_stats": map[string]any{
		"malicious": json.Number("5"), "harmless": json.Number("-3"), "confirmed-timeout": 1e300}}}
	if got, want := built.Stats(), (verdict.Stats{Malicious: 5}); got != want {
		t.Errorf("Stats of impossible counts = %+v, want %+v", got, want)
	}

	var nilAttrs vt.Attributes
	if nilAttrs.String("x") != "" || nilAttrs.Int64("x") != 0 || !nilAttrs.Time("x").IsZero() || nilAttrs.Map("x") != nil {
		t.Error("accessors on nil Attributes returned values")
	}
	var nilObj *vt.Object
	if nilObj.Stats() != (verdict.Stats{}) || nilObj.HasStats() {
		t.Error("nil Object has stats")
	}
}

func lookupOK(a vt.Attributes, k string) bool {
	_, ok := a.Lookup(k)
	return ok
}

func TestURLID(t *testing.T) {
	if got := vt.URLID("http://example.com/"); got != "aHR0cDovL2V4YW1wbGUuY29tLw" {
		t.Errorf("URLID = %q", got)
	}
	p, err := vt.ObjectPath(ioc.URL, "2a1b402420ef46577471cdc7409b0fa2c6a204db316e59ade2d805435489a067")
	if err != nil || p != "/urls/2a1b402420ef46577471cdc7409b0fa2c6a204db316e59ade2d805435489a067" {
		t.Errorf("hex URL id path = %q, %v", p, err)
	}
	p, _ = vt.ObjectPath(ioc.URL, "http://example.com/a b?q=1#f")
	if p != "/urls/"+vt.URLID("http://example.com/a b?q=1#f") {
		t.Errorf("URL path = %q", p)
	}
}

// pagedServer serves a relationship of total items in pages, with a cursor
// while more remain.
func pagedServer(t *testing.T, total int) (*httptest.Server, *[]string) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		start, _ := strconv.Atoi(q.Get("cursor"))
		var data []map[string]any
		for i := start; i < min(start+limit, total); i++ {
			data = append(data, map[string]any{"type": "resolution", "id": fmt.Sprint(i)})
		}
		meta := map[string]any{"count": total}
		if start+limit < total {
			meta["cursor"] = strconv.Itoa(start + limit)
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "meta": meta})
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func TestRelationshipPaging(t *testing.T) {
	cases := []struct {
		name                 string
		total, limit, max    int
		wantItems, wantPages int
		wantTruncated        bool
	}{
		{"one page", 5, 10, 10, 5, 1, false},
		{"exact cap with more", 30, 10, 20, 20, 2, true},
		{"all pages", 25, 10, 100, 25, 3, false},
		{"cap inside page", 30, 10, 15, 15, 2, true},
		{"limit clamped to 40", 100, 500, 80, 80, 2, true},
		{"default max is one page", 30, 10, 0, 10, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, queries := pagedServer(t, tc.total)
			c, _ := newClient(t, vt.Config{BaseURL: srv.URL + "/api/v3"})
			coll, err := c.Relationship(context.Background(), ioc.Domain, "example.com", "resolutions", tc.limit, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(coll.Data) != tc.wantItems || len(*queries) != tc.wantPages || coll.Truncated != tc.wantTruncated {
				t.Errorf("items=%d pages=%d truncated=%v, want %d %d %v (queries %v)",
					len(coll.Data), len(*queries), coll.Truncated, tc.wantItems, tc.wantPages, tc.wantTruncated, *queries)
			}
			for i, o := range coll.Data {
				if o.ID != strconv.Itoa(i) {
					t.Fatalf("item %d has id %q: order or paging is wrong", i, o.ID)
				}
			}
		})
	}
}

func TestRelationshipRejectsBadName(t *testing.T) {
	c, _ := newClient(t, vt.Config{BaseURL: "http://127.0.0.1:9/api/v3"})
	for _, name := range []string{"", "../users", "a/b", "Resolutions?x=1"} {
		if _, err := c.Relationship(context.Background(), ioc.Domain, "example.com", name, 10, 10); err == nil {
			t.Errorf("relationship %q accepted", name)
		}
	}
}

func TestFixtureRelationshipsAndBehaviour(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	srv := startFake(t, vttest.Options{FixturesDir: dir})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL()})
	ctx := context.Background()

	res, err := c.Relationship(ctx, ioc.Domain, "github.com", "resolutions", 10, 30)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture holds one page with a cursor; the fake ends the list there.
	if len(res.Data) != 10 || res.Truncated || res.Data[0].Type != "resolution" {
		t.Errorf("resolutions: %d items, truncated %v", len(res.Data), res.Truncated)
	}
	sib, err := c.Relationship(ctx, ioc.Domain, "github.com", "siblings", 10, 10)
	if err != nil || len(sib.Data) != 0 {
		t.Errorf("siblings = %v, %v; want empty", sib, err)
	}
	one, err := c.Relationship(ctx, ioc.URL, "http://example.com/", "last_serving_ip_address", 10, 10)
	if err != nil || len(one.Data) != 1 || one.Data[0].Attributes.Int64("asn") != 15133 {
		t.Errorf("one-to-one relationship = %+v, %v", one, err)
	}

	const h = "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"
	sum, err := c.BehaviourSummary(ctx, h)
	if err != nil || sum.Map("attack_techniques") == nil {
		t.Errorf("behaviour summary: %v, attack_techniques missing", err)
	}
	trees, err := c.BehaviourMitreTrees(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tactics := range trees {
		for _, ta := range tactics {
			for _, te := range ta.Techniques {
				if te.ID == "T1082" && len(te.Signatures) > 0 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("mitre trees lack T1082 with signatures: %+v", trees)
	}
	if _, err := c.BehaviourSummary(ctx, sha); !errors.Is(err, vt.ErrNotFound) {
		t.Errorf("behaviour of an unknown file: err = %v, want ErrNotFound", err)
	}
}

func TestFixtureFaultBodies(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	srv := startFake(t, vttest.Options{FixturesDir: dir})
	want := map[string]error{
		"401 wrong key": vt.ErrUnauthorized, "401 missing key": vt.ErrUnauthorized, "404 not found": vt.ErrNotFound,
		"429 quota": vt.ErrQuotaExceeded, "403 forbidden": vt.ErrForbidden, "400 bad url id": vt.ErrBadRequest,
	}
	for name, sentinel := range want {
		status, body, ok := srv.FaultBody(name)
		if !ok {
			t.Fatalf("FAULT row %q not loaded", name)
		}
		srv.ClearFaults()
		srv.Inject(vttest.Fault{Kind: vttest.Status, Status: status, Body: body})
		c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: -1})
		_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
		var verr *vt.Error
		if !errors.Is(err, sentinel) || !errors.As(err, &verr) || verr.Code == "" || verr.Message == "" {
			t.Errorf("%s: err = %v, want %v with code and message", name, err, sentinel)
		}
	}
}

// FuzzDecodeObject checks that no body makes decoding or the accessors panic.
func FuzzDecodeObject(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzDecodeObject, which go test
	// loads on its own.
	f.Add([]byte(`{"data":{"type":"file","id":"x","attributes":{"last_analysis_stats":{"malicious":3}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := vt.DecodeObject(body)
		if err != nil {
			if !errors.Is(err, vt.ErrDecode) {
				t.Fatalf("error %v does not match ErrDecode", err)
			}
			return
		}
		a := o.Attributes
		_ = o.Stats()
		_ = o.HasStats()
		for k := range a {
			_ = a.String(k)
			_ = a.Int64(k)
			_ = a.Float(k)
			_ = a.Bool(k)
			_ = a.Time(k)
			_ = a.Strings(k)
			_ = a.Map(k).String("x")
			_ = a.Slice(k)
		}
		_ = vt.ParseMitreTrees(a)
	})
}

// TestRelationshipOfNonObjects checks that a page whose "data" holds no
// object at all is a decode error, not an empty list that reads as "none",
// while a page with some objects keeps them.
func TestRelationshipOfNonObjects(t *testing.T) {
	for _, tc := range []struct {
		body  string
		items int
		fails bool
	}{
		{`{"data":[1,2,3]}`, 0, true},
		{`{"data":["a",null]}`, 0, true},
		{`{"data":[1,{"type":"file","id":"x"}]}`, 1, false},
		{`{"data":[]}`, 0, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tc.body))
		}))
		c, _ := newClient(t, vt.Config{BaseURL: srv.URL + "/api/v3", MaxRetries: -1})
		coll, err := c.Relationship(context.Background(), ioc.SHA256, sha, "dropped_files", 10, 10)
		srv.Close()
		if tc.fails != (err != nil) || tc.fails && !errors.Is(err, vt.ErrDecode) || !tc.fails && len(coll.Data) != tc.items {
			t.Errorf("%s: %d items, err %v; want %d items, failure %v", tc.body, len(coll.Data), err, tc.items, tc.fails)
		}
	}
}
