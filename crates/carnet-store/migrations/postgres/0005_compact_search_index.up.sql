-- Migration 0005 rebuilt SQLite's FTS5 search index; PostgreSQL's trigram index needed no
-- change. Kept so that both backends count their schema versions alike.
SELECT 1;
