DROP TRIGGER contact_index_rows_remove;

-- Key rows whose contact is gone cannot exist while the trigger works; any that do would
-- break the foreign keys coming back, so they are not copied.
CREATE TABLE contact_emails_rebuilt (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    email_key   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, email_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO contact_emails_rebuilt (tenant_id, contact_id, email_key)
SELECT k.tenant_id, k.contact_id, k.email_key FROM contact_emails k
JOIN contacts c ON c.tenant_id = k.tenant_id AND c.id = k.contact_id;
DROP TABLE contact_emails;
ALTER TABLE contact_emails_rebuilt RENAME TO contact_emails;
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key, contact_id);

CREATE TABLE contact_tags_rebuilt (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    tag_key     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, tag_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO contact_tags_rebuilt (tenant_id, contact_id, tag_key)
SELECT k.tenant_id, k.contact_id, k.tag_key FROM contact_tags k
JOIN contacts c ON c.tenant_id = k.tenant_id AND c.id = k.contact_id;
DROP TABLE contact_tags;
ALTER TABLE contact_tags_rebuilt RENAME TO contact_tags;
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key, contact_id);
