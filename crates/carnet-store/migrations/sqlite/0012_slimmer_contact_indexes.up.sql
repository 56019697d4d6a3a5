-- A contact's writes touch fewer B-trees (bench/results/http.md, nineteenth session):
-- - `contact_emails` and `contact_tags` become WITHOUT ROWID tables: their primary key is
--   the table itself, where a rowid table kept each key row twice (the table and its
--   primary key's index). A contact's e-mail or tag key row is now two B-tree entries,
--   not three, and the tables take less space.
-- - `contacts_owner` and `contacts_company` hold only contacts that have an owner or a
--   company: every query reaching them asks for one (`owner_id = ?`, `company_id = ?`),
--   which implies the partial index's condition, and a contact without one no longer costs
--   an entry in each.
-- The delete trigger of 0010 names both tables: it goes while they are rebuilt.
DROP TRIGGER contact_index_rows_remove;

CREATE TABLE contact_emails_rebuilt (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    email_key   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, email_key)
) WITHOUT ROWID;
INSERT INTO contact_emails_rebuilt (tenant_id, contact_id, email_key)
SELECT tenant_id, contact_id, email_key FROM contact_emails;
DROP TABLE contact_emails;
ALTER TABLE contact_emails_rebuilt RENAME TO contact_emails;
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key, contact_id);

CREATE TABLE contact_tags_rebuilt (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    tag_key     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, tag_key)
) WITHOUT ROWID;
INSERT INTO contact_tags_rebuilt (tenant_id, contact_id, tag_key)
SELECT tenant_id, contact_id, tag_key FROM contact_tags;
DROP TABLE contact_tags;
ALTER TABLE contact_tags_rebuilt RENAME TO contact_tags;
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key, contact_id);

CREATE TRIGGER contact_index_rows_remove AFTER DELETE ON contacts BEGIN
    DELETE FROM contact_emails WHERE tenant_id = old.tenant_id AND contact_id = old.id;
    DELETE FROM contact_tags WHERE tenant_id = old.tenant_id AND contact_id = old.id;
END;

DROP INDEX contacts_owner;
CREATE INDEX contacts_owner ON contacts (owner_id) WHERE owner_id IS NOT NULL;
DROP INDEX contacts_company;
CREATE INDEX contacts_company ON contacts (tenant_id, company_id) WHERE company_id IS NOT NULL;
