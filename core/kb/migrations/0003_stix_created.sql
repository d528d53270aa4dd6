-- Schema 3: when each STIX object was first exported.
-- STIX 2.1 keeps an object's created time the same across its versions.
-- vex derives object ids from the producer and the indicator, so a later
-- export of the same indicator is a new version of the same object and
-- must repeat the created time of the first export.
CREATE TABLE stix_created (
	id         TEXT PRIMARY KEY,  -- STIX object id, e.g. indicator--<uuid>
	created_ms INTEGER NOT NULL   -- Unix milliseconds of the first export
) WITHOUT ROWID;
