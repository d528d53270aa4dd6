-- Schema 1: indicators, tags, notes, watchlists and verdict history.
-- Every table refers to an indicator by the row of its normalised value, so
-- evil[.]com, EVIL.com and evil.com. share one row.

PRAGMA application_id = 1986361459; -- "vexs", marks the file as a vex knowledge base

CREATE TABLE iocs (
	id      INTEGER PRIMARY KEY,
	value   TEXT NOT NULL UNIQUE, -- normalised IOC, the key
	type    TEXT NOT NULL,        -- md5, sha1, sha256, ipv4, ipv6, domain or url
	created TEXT NOT NULL         -- UTC, fixed-width RFC 3339 so text order is time order
);

CREATE TABLE tags (
	ioc_id  INTEGER NOT NULL REFERENCES iocs(id) ON DELETE CASCADE,
	tag     TEXT NOT NULL COLLATE NOCASE, -- APT29 and apt29 are one tag; the first spelling is kept
	created TEXT NOT NULL,
	PRIMARY KEY (ioc_id, tag)
);
CREATE INDEX tags_by_tag ON tags(tag);

-- AUTOINCREMENT so the ID of a deleted note is never handed out again: a
-- script that deletes note 7 must not later delete someone else's note 7.
CREATE TABLE notes (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	ioc_id  INTEGER NOT NULL REFERENCES iocs(id) ON DELETE CASCADE,
	text    TEXT NOT NULL,
	created TEXT NOT NULL
);
CREATE INDEX notes_by_ioc ON notes(ioc_id);

CREATE TABLE watchlists (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created TEXT NOT NULL
);

CREATE TABLE watchlist_members (
	watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
	ioc_id       INTEGER NOT NULL REFERENCES iocs(id) ON DELETE CASCADE,
	added        TEXT NOT NULL,
	PRIMARY KEY (watchlist_id, ioc_id)
);
CREATE INDEX watchlist_members_by_ioc ON watchlist_members(ioc_id);

-- Verdict history, written by watchlist runs. The whole history is kept so a
-- later version can show trends; runs only read the newest row.
CREATE TABLE verdicts (
	id      INTEGER PRIMARY KEY,
	ioc_id  INTEGER NOT NULL REFERENCES iocs(id) ON DELETE CASCADE,
	verdict TEXT NOT NULL, -- UNKNOWN, CLEAN, SUSPICIOUS or MALICIOUS
	stats   TEXT NOT NULL, -- last_analysis_stats as JSON
	at      TEXT NOT NULL
);
CREATE INDEX verdicts_by_ioc ON verdicts(ioc_id, at);
