DROP FUNCTION contact_search_page(text, text, text, text[], text, boolean, boolean, text, uuid, integer);
DROP FUNCTION contact_search_ids(text, text, text, integer);

CREATE OR REPLACE FUNCTION contact_search_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO contact_search (tenant_id, contact_id, search_text, sort_last, sort_first, deleted)
    SELECT tenant_id, id, search_text, sort_last, sort_first, deleted_at IS NOT NULL FROM added;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION contact_search_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE contact_search s
    SET search_text = n.search_text, sort_last = n.sort_last, sort_first = n.sort_first,
        deleted = n.deleted_at IS NOT NULL
    FROM changed n
    WHERE s.tenant_id = n.tenant_id AND s.contact_id = n.id
      AND (s.search_text, s.sort_last, s.sort_first, s.deleted)
          IS DISTINCT FROM (n.search_text, n.sort_last, n.sort_first, n.deleted_at IS NOT NULL);
    RETURN NULL;
END
$$;

DROP INDEX contact_search_by_first;
DROP INDEX contact_search_by_last;
DROP INDEX contact_search_rest_trigrams;
CREATE INDEX contact_search_trigrams ON contact_search USING gin (search_text gin_trgm_ops);
ALTER TABLE contact_search DROP COLUMN rest_text, DROP COLUMN tail_text;
DROP FUNCTION contact_search_tails(text, text);
DROP FUNCTION contact_search_rest(text, text, text);
DROP FUNCTION contact_search_lead(text);
ALTER TABLE contacts DROP COLUMN search_rest;

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

CREATE FUNCTION contact_search_page(
    pattern text, patterns text[], sort_column text, descending boolean, trashed boolean,
    after_key text, after_id uuid, lim integer
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    dir text := CASE WHEN descending THEN 'DESC' ELSE 'ASC' END;
    cmp text := CASE WHEN descending THEN '<' ELSE '>' END;
    after text := '';
BEGIN
    IF sort_column NOT IN ('sort_last', 'sort_first') THEN
        RAISE EXCEPTION 'contact_search_page cannot sort by %', sort_column;
    END IF;
    IF after_id IS NOT NULL THEN
        after := format(' AND (%I, contact_id) %s ($5, $6)', sort_column, cmp);
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT contact_id FROM contact_search
         WHERE tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid
           AND deleted = $4 AND search_text LIKE $1 AND search_text LIKE ALL ($2)%s
         ORDER BY %I %s, contact_id %s LIMIT $3',
        after, sort_column, dir, dir)
    USING pattern, patterns, lim, trashed, after_key, after_id;
END
$$;

REVOKE ALL ON FUNCTION contact_search_ids(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_ids(text, integer) TO carnet_app;
REVOKE ALL ON FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer) TO carnet_app;
