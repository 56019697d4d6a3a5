-- A smaller, faster-written search index: the trigram index of 0004 kept every trigram's
-- positions and each contact's token count, which substring search never reads (a search
-- applies its LIKE test to every contact the index returns). Without them (`detail = none`,
-- `columnsize = 0`) writing a contact costs about half as much; a search asks for every
-- trigram of its terms instead of a phrase.
DROP TRIGGER contact_search_update;
DROP TRIGGER contact_search_delete;
DROP TRIGGER contact_search_insert;
DROP TABLE contact_search;

CREATE VIRTUAL TABLE contact_search USING fts5 (
    search_text,
    content = 'contacts',
    content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1',
    detail = none,
    columnsize = 0
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
