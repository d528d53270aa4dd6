-- One row per cached lookup. Times are Unix milliseconds in UTC.
CREATE TABLE entries (
	mode       TEXT    NOT NULL, -- triage or investigate
	type       TEXT    NOT NULL, -- IOC type: md5, sha1, sha256, ipv4, ipv6, domain, url
	value      TEXT    NOT NULL, -- normalised IOC
	status     TEXT    NOT NULL CHECK (status IN ('ok', 'not_found', 'partial')),
	data       BLOB    NOT NULL, -- raw VirusTotal JSON, empty for not_found
	fetched_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (mode, type, value)
) WITHOUT ROWID;

-- Pruning and Stats scan by expiry.
CREATE INDEX entries_expires_at ON entries (expires_at);
