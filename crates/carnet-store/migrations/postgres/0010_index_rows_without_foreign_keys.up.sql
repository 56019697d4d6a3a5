-- A contact's index rows (its e-mail and tag keys, its search row) are written only with the
-- contact, by the statements that write it and by its triggers. A foreign key there proved
-- nothing new and cost, for each index row, a lookup of the contact and a lock on it (a
-- record in the write-ahead log): four per contact, about a tenth of an import's time
-- (bench/results/import.md). Deleting a contact still takes its index rows with it, by the
-- trigger below instead of the foreign keys' cascade. Activities keep their foreign key:
-- they are data of their own, not an index of the contact.
ALTER TABLE contact_emails DROP CONSTRAINT contact_emails_tenant_id_contact_id_fkey;
ALTER TABLE contact_tags DROP CONSTRAINT contact_tags_tenant_id_contact_id_fkey;
ALTER TABLE contact_search DROP CONSTRAINT contact_search_tenant_id_contact_id_fkey;

CREATE FUNCTION contact_index_rows_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM contact_emails k USING removed r
    WHERE k.tenant_id = r.tenant_id AND k.contact_id = r.id;
    DELETE FROM contact_tags k USING removed r
    WHERE k.tenant_id = r.tenant_id AND k.contact_id = r.id;
    DELETE FROM contact_search k USING removed r
    WHERE k.tenant_id = r.tenant_id AND k.contact_id = r.id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION contact_index_rows_remove() FROM PUBLIC;

CREATE TRIGGER contact_index_rows_remove AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION contact_index_rows_remove();
