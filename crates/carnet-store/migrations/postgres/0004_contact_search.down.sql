-- pg_trgm stays: it may predate this migration, and it holds no data.
DROP FUNCTION contact_search_ids(text, integer);
DROP TRIGGER contact_search_update ON contacts;
DROP TRIGGER contact_search_insert ON contacts;
DROP FUNCTION contact_search_change();
DROP FUNCTION contact_search_add();
DROP TABLE contact_search;
