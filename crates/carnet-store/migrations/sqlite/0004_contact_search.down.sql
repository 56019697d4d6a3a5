DROP TRIGGER contact_search_update;
DROP TRIGGER contact_search_delete;
DROP TRIGGER contact_search_insert;
DROP TABLE contact_search;
