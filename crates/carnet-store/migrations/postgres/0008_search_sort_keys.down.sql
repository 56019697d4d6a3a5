DROP FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer);

CREATE OR REPLACE FUNCTION contact_search_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO contact_search (tenant_id, contact_id, search_text)
    SELECT tenant_id, id, search_text FROM added;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION contact_search_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE contact_search s SET search_text = n.search_text
    FROM changed n
    WHERE s.tenant_id = n.tenant_id AND s.contact_id = n.id
      AND s.search_text IS DISTINCT FROM n.search_text;
    RETURN NULL;
END
$$;

ALTER TABLE contact_search DROP COLUMN sort_last, DROP COLUMN sort_first, DROP COLUMN deleted;
