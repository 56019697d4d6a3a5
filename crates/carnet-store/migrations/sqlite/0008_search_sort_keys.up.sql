-- PostgreSQL's 0008 copies the sort keys into its search table. SQLite's FTS5 index keeps no
-- columns of its own (external content), so there is nothing to change here: this file keeps
-- the two backends' schema versions numbered alike.
SELECT 1;
