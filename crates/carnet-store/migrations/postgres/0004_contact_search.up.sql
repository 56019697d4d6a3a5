-- Search: a trigram index of each contact's folded search text, so that `q` finds a rare
-- substring without reading every contact.
--
-- The index cannot sit on `contacts`: under row-level security PostgreSQL only uses an index
-- for leakproof operators, and LIKE is not one, so the application role would never use it.
-- The text is therefore copied into `contact_search`, which the application role cannot read
-- at all: triggers on `contacts` keep it in step (as its owner), and the one way in is
-- `contact_search_ids`, which returns the ids of the current tenant's matching contacts, the
-- same `app.tenant_id` setting as the policies deciding which tenant that is. The contacts are
-- then read from `contacts`, under its policy, so the second wall still stands.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE contact_search (
    tenant_id    uuid NOT NULL,
    contact_id   uuid NOT NULL,
    search_text  text NOT NULL,
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_search_trigrams ON contact_search USING gin (search_text gin_trgm_ops);
-- Row-level security on, not forced: its owner (the functions below) reads it whole; any
-- other role, were it ever granted access, would see nothing without a tenant.
ALTER TABLE contact_search ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_search
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

INSERT INTO contact_search (tenant_id, contact_id, search_text)
SELECT tenant_id, id, search_text FROM contacts;

CREATE FUNCTION contact_search_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO contact_search (tenant_id, contact_id, search_text)
    SELECT tenant_id, id, search_text FROM added;
    RETURN NULL;
END
$$;

CREATE FUNCTION contact_search_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE contact_search s SET search_text = n.search_text
    FROM changed n
    WHERE s.tenant_id = n.tenant_id AND s.contact_id = n.id
      AND s.search_text IS DISTINCT FROM n.search_text;
    RETURN NULL;
END
$$;

CREATE TRIGGER contact_search_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION contact_search_add();
CREATE TRIGGER contact_search_update AFTER UPDATE ON contacts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION contact_search_change();

-- The ids of at most `cap` contacts of the current tenant whose search text is LIKE `pattern`.
-- A dynamic query, so that each call is planned for its own pattern: the trigram index for a
-- rare one, a scan that stops at `cap` rows for a frequent one.
CREATE FUNCTION contact_search_ids(pattern text, cap integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT contact_id FROM contact_search
         WHERE tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid
           AND search_text LIKE $1
         LIMIT $2'
    USING pattern, cap;
END
$$;

REVOKE ALL ON FUNCTION contact_search_add(), contact_search_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION contact_search_ids(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_ids(text, integer) TO carnet_app;
