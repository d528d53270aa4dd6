package vt

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"

	"github.com/vex-ioc/vex/core/ioc"
)

// VirusTotal serves at most 40 items per relationship page.
const (
	defaultPageLimit = 10
	maxPageLimit     = 40
)

var relationshipName = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Relationship fetches the relationship name (resolutions,
// contacted_domains, ...) of an indicator, following cursors until
// maxItems objects are collected or the list ends. limit is the page size
// (default 10, at most 40); maxItems <= 0 means one page. Truncated is set
// when VirusTotal had more than maxItems. One-to-one relationships, whose
// data is a single object or null, give zero or one item.
func (c *Client) Relationship(ctx context.Context, t ioc.Type, value, name string, limit, maxItems int) (*Collection, error) {
	if !relationshipName.MatchString(name) {
		return nil, fmt.Errorf("invalid virustotal relationship name %q: use lower-case letters, digits and _", name)
	}
	base, err := ObjectPath(t, value)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultPageLimit
	}
	limit = min(limit, maxPageLimit)
	if maxItems <= 0 {
		maxItems = limit
	}
	path := base + "/" + name

	coll := &Collection{}
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(min(limit, maxItems-len(coll.Data)))}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := c.Get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		items, meta, err := decodeCollection(body)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", path, err)
		}
		coll.Meta = meta
		coll.Data = append(coll.Data, items...)
		next, _ := meta["cursor"].(string)

		switch {
		case len(coll.Data) > maxItems:
			coll.Data = coll.Data[:maxItems]
			coll.Truncated = true
			return coll, nil
		case next == "":
			return coll, nil
		case len(coll.Data) == maxItems:
			coll.Truncated = true
			return coll, nil
		case len(items) == 0 || next == cursor:
			// A cursor that brings nothing new would loop forever.
			return coll, nil
		}
		cursor = next
	}
}

// BehaviourSummary fetches /files/{sha256}/behaviour_summary, the merged
// sandbox report, and returns its "data" object.
func (c *Client) BehaviourSummary(ctx context.Context, sha256 string) (Attributes, error) {
	path, err := ObjectPath(ioc.SHA256, sha256)
	if err != nil {
		return nil, err
	}
	path += "/behaviour_summary"
	body, err := c.Get(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	data, err := decodeDataMap(body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", path, err)
	}
	return data, nil
}

// MitreTactic is one ATT&CK tactic of a sandbox's MITRE tree.
type MitreTactic struct {
	ID         string
	Name       string
	Techniques []MitreTechnique
}

// MitreTechnique is one ATT&CK technique with the sandbox signatures that
// matched it.
type MitreTechnique struct {
	ID         string
	Name       string
	Signatures []MitreSignature
}

// MitreSignature is one sandbox signature behind a technique.
type MitreSignature struct {
	Severity    string
	Description string
}

// BehaviourMitreTrees fetches /files/{sha256}/behaviour_mitre_trees and
// returns the tactics per sandbox name. Entries of an unexpected shape are
// skipped.
func (c *Client) BehaviourMitreTrees(ctx context.Context, sha256 string) (map[string][]MitreTactic, error) {
	path, err := ObjectPath(ioc.SHA256, sha256)
	if err != nil {
		return nil, err
	}
	path += "/behaviour_mitre_trees"
	body, err := c.Get(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	data, err := decodeDataMap(body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", path, err)
	}
	return ParseMitreTrees(data), nil
}

// ParseMitreTrees converts the "data" object of behaviour_mitre_trees.
func ParseMitreTrees(data Attributes) map[string][]MitreTactic {
	out := map[string][]MitreTactic{}
	for sandbox := range data {
		var tactics []MitreTactic
		for _, tv := range data.Slice(sandbox, "tactics") {
			ta, ok := tv.(map[string]any)
			if !ok {
				continue
			}
			tactic := MitreTactic{ID: Attributes(ta).String("id"), Name: Attributes(ta).String("name")}
			for _, qv := range Attributes(ta).Slice("techniques") {
				te, ok := qv.(map[string]any)
				if !ok {
					continue
				}
				tech := MitreTechnique{ID: Attributes(te).String("id"), Name: Attributes(te).String("name")}
				for _, sv := range Attributes(te).Slice("signatures") {
					if sig, ok := sv.(map[string]any); ok {
						tech.Signatures = append(tech.Signatures, MitreSignature{
							Severity:    Attributes(sig).String("severity"),
							Description: Attributes(sig).String("description"),
						})
					}
				}
				tactic.Techniques = append(tactic.Techniques, tech)
			}
			tactics = append(tactics, tactic)
		}
		out[sandbox] = tactics
	}
	return out
}

func decodeDataMap(body []byte) (Attributes, error) {
	env, ok := decodeAny(body).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrDecode)
	}
	data, ok := env["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: \"data\" is missing or not an object", ErrDecode)
	}
	return data, nil
}
