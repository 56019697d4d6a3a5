-- A search for a common term (a last name thousands of contacts share) read every match by
-- key and sorted them: 26,000 primary-key probes under row-level security, 230-370 ms at a
-- million contacts. `contact_search` now also holds each contact's sort keys and whether it
-- is in the trash, so that `contact_search_page` can return one page of matching ids, in
-- list order, from the search table alone; the list then reads only those contacts.
ALTER TABLE contact_search
    ADD COLUMN sort_last text COLLATE "C",
    ADD COLUMN sort_first text COLLATE "C",
    ADD COLUMN deleted boolean NOT NULL DEFAULT false;
UPDATE contact_search s
SET sort_last = c.sort_last, sort_first = c.sort_first, deleted = c.deleted_at IS NOT NULL
FROM contacts c
WHERE c.tenant_id = s.tenant_id AND c.id = s.contact_id;
ALTER TABLE contact_search
    ALTER COLUMN sort_last SET NOT NULL,
    ALTER COLUMN sort_first SET NOT NULL;

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

-- One page of the current tenant's contacts whose search text is LIKE `pattern` (the one the
-- trigram index looks up) and LIKE every one of `patterns`, live or in the trash, in the
-- order of `sort_column` (sort_last or sort_first) then id, after (`after_key`, `after_id`)
-- when given. The list reads those contacts and tests them again under its own policy.
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

REVOKE ALL ON FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer) TO carnet_app;
