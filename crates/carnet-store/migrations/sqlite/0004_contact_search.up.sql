-- Search: a trigram index of each contact's folded search text, so that `q` finds a rare
-- substring without reading every contact. An external-content FTS5 table: the text stays in
-- `contacts` only, the index is keyed by the contacts' rowid (kept by VACUUM and VACUUM INTO,
-- since `contacts` has indexes) and kept in step by triggers.
CREATE VIRTUAL TABLE contact_search USING fts5 (
    search_text,
    content = 'contacts',
    content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1'
);

CREATE TRIGGER contact_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TRIGGER contact_search_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contact_search (contact_search, rowid, search_text)
    VALUES ('delete', old.rowid, old.search_text);
END;

CREATE TRIGGER contact_search_update AFTER UPDATE OF search_text ON contacts
WHEN old.search_text IS NOT new.search_text BEGIN
    INSERT INTO contact_search (contact_search, rowid, search_text)
    VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO contact_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

INSERT INTO contact_search (contact_search) VALUES ('rebuild');
