DROP TRIGGER contact_index_rows_remove ON contacts;
DROP FUNCTION contact_index_rows_remove();

-- Index rows whose contact is gone cannot exist while the trigger works; any that do would
-- stop the foreign keys from coming back.
DELETE FROM contact_emails k
WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = k.tenant_id AND c.id = k.contact_id);
DELETE FROM contact_tags k
WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = k.tenant_id AND c.id = k.contact_id);
DELETE FROM contact_search k
WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = k.tenant_id AND c.id = k.contact_id);

ALTER TABLE contact_emails ADD CONSTRAINT contact_emails_tenant_id_contact_id_fkey
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE contact_tags ADD CONSTRAINT contact_tags_tenant_id_contact_id_fkey
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE contact_search ADD CONSTRAINT contact_search_tenant_id_contact_id_fkey
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE;
