package splunk

import (
	"encoding/json"
	"fmt"

	"github.com/vex-ioc/vex/core/secret"
)

// SearchInfo is the part of the getinfo metadata the command uses.
type SearchInfo struct {
	Args          []string
	App           string
	Owner         string
	Username      string
	SID           string
	SplunkdURI    string
	SplunkVersion string
	SessionKey    secret.String
	MaxResultRows int
}

// inbound is the metadata of a chunk from splunkd.
type inbound struct {
	Action     string `json:"action"`
	Finished   bool   `json:"finished"`
	Preview    bool   `json:"preview"`
	SearchInfo *struct {
		Args          []string `json:"args"`
		App           string   `json:"app"`
		Owner         string   `json:"owner"`
		Username      string   `json:"username"`
		SID           string   `json:"sid"`
		SplunkdURI    string   `json:"splunkd_uri"`
		SplunkVersion string   `json:"splunk_version"`
		SessionKey    string   `json:"session_key"`
		MaxResultRows int      `json:"maxresultrows"`
	} `json:"searchinfo"`
}

func decodeInbound(meta []byte) (inbound, error) {
	var m inbound
	if err := json.Unmarshal(meta, &m); err != nil {
		return m, protoErr(err, "invalid chunk metadata %s", clip(meta, 80))
	}
	return m, nil
}

func (m inbound) searchInfo() *SearchInfo {
	if m.SearchInfo == nil {
		return &SearchInfo{}
	}
	s := m.SearchInfo
	return &SearchInfo{
		Args: s.Args, App: s.App, Owner: s.Owner, Username: s.Username, SID: s.SID,
		SplunkdURI: s.SplunkdURI, SplunkVersion: s.SplunkVersion,
		SessionKey: secret.New(s.SessionKey), MaxResultRows: s.MaxResultRows,
	}
}

// getinfoReply declares the command to splunkd. A stateful command runs on
// the search head only, which keeps lookups and the quota in one place.
type getinfoReply struct {
	Type           string     `json:"type,omitempty"`
	RequiredFields []string   `json:"required_fields,omitempty"`
	Finished       bool       `json:"finished,omitempty"`
	Error          string     `json:"error,omitempty"`
	Inspector      *inspector `json:"inspector,omitempty"`
}

// executeReply answers one execute chunk.
type executeReply struct {
	Finished  bool       `json:"finished"`
	Error     string     `json:"error,omitempty"`
	Inspector *inspector `json:"inspector,omitempty"`
}

// inspector carries messages that Splunk shows under the search bar, as
// [level, text] pairs with level DEBUG, INFO, WARN or ERROR.
type inspector struct {
	Messages [][2]string `json:"messages"`
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
