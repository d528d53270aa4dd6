-- Schema 2: verdict history per watchlist.
-- A watchlist run compares each member with the verdict the same list
-- recorded last time. With one shared history, the first list to run after
-- a change reported it and every other list holding the indicator saw
-- "unchanged", and a list that had never run compared with another list's
-- verdict instead of reporting its members as new.
--
-- When a list is deleted its rows keep their verdicts with watchlist_id
-- NULL, so the indicator's history stays, and a list created later under
-- the same name starts without a history.
ALTER TABLE verdicts ADD COLUMN watchlist_id INTEGER REFERENCES watchlists(id) ON DELETE SET NULL;
CREATE INDEX verdicts_by_watchlist ON verdicts(watchlist_id, ioc_id, at);

-- Rows from schema 1 do not say which list's run wrote them. They stay as
-- they are, with watchlist_id NULL, and each list gets a copy of the latest
-- verdict recorded for a member since the member joined that list: any list
-- holding the indicator at that time may have run it, so the first run
-- after the upgrade compares with the same verdict as before the upgrade.
-- A member added to a list after its latest verdict gets no copy, so that
-- list reports it as new.
INSERT INTO verdicts (ioc_id, watchlist_id, verdict, stats, at)
SELECT m.ioc_id, m.watchlist_id, v.verdict, v.stats, v.at
FROM watchlist_members m
JOIN verdicts v ON v.id = (
	SELECT l.id FROM verdicts l
	WHERE l.ioc_id = m.ioc_id AND l.watchlist_id IS NULL AND l.at >= m.added
	ORDER BY l.at DESC, l.id DESC LIMIT 1
);
