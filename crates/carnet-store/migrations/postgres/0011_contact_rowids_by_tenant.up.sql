-- SQLite's 0011 gives each tenant a block of contact rowids, so that its FTS5 index, shared
-- by every tenant, can be searched for one tenant's contacts alone. PostgreSQL's search
-- table reads one tenant's rows through its own indexes already: nothing to change here;
-- this file keeps the two backends' schema versions numbered alike.
SELECT 1;
