-- The e-mail and tag indexes also carry the contact id, so a lookup of many keys at once
-- (imports) is answered from the index alone; without it, SQLite's planner preferred to
-- scan the tenant's whole primary-key index, which made imports quadratic.
DROP INDEX contact_emails_key;
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key, contact_id);
DROP INDEX contact_tags_key;
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key, contact_id);
