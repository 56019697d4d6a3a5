DROP INDEX contact_emails_key;
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key);
DROP INDEX contact_tags_key;
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key);
