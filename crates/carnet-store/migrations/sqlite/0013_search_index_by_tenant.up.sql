-- PostgreSQL's 0013 puts the tenant into its search table's trigram index. SQLite's FTS5
-- index reads one tenant's rowids alone already (0011): nothing to change here; this file
-- keeps the two backends' schema versions numbered alike.
SELECT 1;
