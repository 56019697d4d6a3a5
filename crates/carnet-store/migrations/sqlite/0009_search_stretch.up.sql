-- PostgreSQL's search table is built from each contact's rest text (its migration 0009);
-- SQLite's FTS5 index needs none, so the column stays NULL here. It exists so that both
-- backends share the statements that write contacts.
ALTER TABLE contacts ADD COLUMN search_rest TEXT;
