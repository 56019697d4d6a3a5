DROP INDEX contacts_company;
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);
DROP INDEX contacts_owner;
CREATE INDEX contacts_owner ON contacts (owner_id);

DROP TRIGGER contact_index_rows_remove;

CREATE TABLE contact_emails_rebuilt (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    email_key   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, email_key)
);
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
);
INSERT INTO contact_tags_rebuilt (tenant_id, contact_id, tag_key)
SELECT tenant_id, contact_id, tag_key FROM contact_tags;
DROP TABLE contact_tags;
ALTER TABLE contact_tags_rebuilt RENAME TO contact_tags;
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key, contact_id);

CREATE TRIGGER contact_index_rows_remove AFTER DELETE ON contacts BEGIN
    DELETE FROM contact_emails WHERE tenant_id = old.tenant_id AND contact_id = old.id;
    DELETE FROM contact_tags WHERE tenant_id = old.tenant_id AND contact_id = old.id;
END;
