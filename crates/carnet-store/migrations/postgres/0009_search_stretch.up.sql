-- A search for a name thousands of contacts share read every match from `contact_search` (its
-- trigram index gives row addresses, each row read to recheck it) and sorted them: 26,000
-- rows in 15,000 blocks for "dubois" at a million contacts, 60-400 ms. The matches are now
-- found in three parts, so that the common part comes in list order from a B-tree:
--
--   * the contacts whose last-name sort key starts with the term, and those whose first-name
--     sort key does (ranges of two B-tree indexes on the sort keys);
--   * the others, from a trigram index over `rest_text`: the contact's search text cut into
--     runs (letters, or ASCII digits, between spaces and ASCII punctuation) less every run
--     equal to the leading letters of a sort key ("dubois" out of "jean dubois
--     jean.dubois12@x.fr"), and `tail_text`: those leading letters less their first one
--     ("ubois", so that "bois" still finds Dubois).
--
-- For a search run (letters or digits only, see `carnet-store/src/search.rs`), these three
-- parts are exactly its matches: an occurrence of the run lies inside one run of the text;
-- if that run was taken out, the run is at its start (the sort key starts with it) or further
-- in (the tail holds it).
--
-- `contacts.search_rest` carries the rest text the application computed (the same rule, in
-- Rust, without regular expressions: they cost ~10 µs a row here); when it is NULL (restored
-- archives, rows written before this migration), `contact_search_rest` computes it.
ALTER TABLE contacts ADD COLUMN search_rest text;

CREATE FUNCTION contact_search_lead(sort_key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substring(sort_key FROM '^[^ !-/:-@[-`{-~0-9]+')
$$;

CREATE FUNCTION contact_search_rest(search_text text, sort_last text, sort_first text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(run, ' ' ORDER BY n), '')
    FROM regexp_split_to_table(
             btrim(regexp_replace(search_text, '([0-9]+)|[ !-/:-@[-`{-~]+', ' \1 ', 'g')), ' +')
         WITH ORDINALITY AS r(run, n)
    WHERE run <> ''
      AND run IS DISTINCT FROM contact_search_lead(sort_last)
      AND run IS DISTINCT FROM contact_search_lead(sort_first)
$$;

CREATE FUNCTION contact_search_tails(sort_last text, sort_first text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(substr(contact_search_lead(sort_last), 2), '') || ' '
        || coalesce(substr(contact_search_lead(sort_first), 2), '')
$$;

ALTER TABLE contact_search ADD COLUMN rest_text text, ADD COLUMN tail_text text;
UPDATE contact_search
SET rest_text = contact_search_rest(search_text, sort_last, sort_first),
    tail_text = contact_search_tails(sort_last, sort_first);
ALTER TABLE contact_search
    ALTER COLUMN rest_text SET NOT NULL,
    ALTER COLUMN tail_text SET NOT NULL;

DROP INDEX contact_search_trigrams;
CREATE INDEX contact_search_rest_trigrams ON contact_search
    USING gin (rest_text gin_trgm_ops, tail_text gin_trgm_ops);
CREATE INDEX contact_search_by_last ON contact_search (tenant_id, sort_last, contact_id);
CREATE INDEX contact_search_by_first ON contact_search (tenant_id, sort_first, contact_id);

CREATE OR REPLACE FUNCTION contact_search_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO contact_search
        (tenant_id, contact_id, search_text, sort_last, sort_first, deleted, rest_text, tail_text)
    SELECT tenant_id, id, search_text, sort_last, sort_first, deleted_at IS NOT NULL,
           coalesce(search_rest, contact_search_rest(search_text, sort_last, sort_first)),
           contact_search_tails(sort_last, sort_first)
    FROM added;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION contact_search_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE contact_search s
    SET search_text = n.search_text, sort_last = n.sort_last, sort_first = n.sort_first,
        deleted = n.deleted_at IS NOT NULL,
        rest_text = coalesce(n.search_rest, contact_search_rest(n.search_text, n.sort_last, n.sort_first)),
        tail_text = contact_search_tails(n.sort_last, n.sort_first)
    FROM changed n
    WHERE s.tenant_id = n.tenant_id AND s.contact_id = n.id
      AND (s.search_text, s.sort_last, s.sort_first, s.deleted)
          IS DISTINCT FROM (n.search_text, n.sort_last, n.sort_first, n.deleted_at IS NOT NULL);
    RETURN NULL;
END
$$;

-- The ids of at most `cap` contacts of the current tenant matching the search run `run`
-- (`run_end`: the least text above every text starting with `run`; `pattern`: `run` as a
-- LIKE pattern matching it anywhere).
DROP FUNCTION contact_search_ids(text, integer);
CREATE FUNCTION contact_search_ids(run text, run_end text, pattern text, cap integer)
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
    RETURN QUERY EXECUTE
        'SELECT contact_id FROM contact_search
         WHERE tenant_id = $1 AND sort_last >= $2 AND sort_last < $3
         UNION
         SELECT contact_id FROM contact_search
         WHERE tenant_id = $1 AND sort_first >= $2 AND sort_first < $3
         UNION
         SELECT contact_id FROM contact_search
         WHERE tenant_id = $1 AND (rest_text LIKE $4 OR tail_text LIKE $4)
         LIMIT $5'
    USING tenant, run, run_end, pattern, cap;
END
$$;

-- One page of the current tenant's contacts matching the search run `run` (as above) and
-- LIKE every one of `patterns`, live or in the trash, in the order of `sort_column`
-- (sort_last or sort_first) then id, after (`after_key`, `after_id`) when given: the first
-- `lim` of each part, merged. The list reads those contacts and tests them again under its
-- own policy.
DROP FUNCTION contact_search_page(text, text[], text, boolean, boolean, text, uuid, integer);
CREATE FUNCTION contact_search_page(
    run text, run_end text, pattern text, patterns text[], sort_column text, descending boolean,
    trashed boolean, after_key text, after_id uuid, lim integer
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
    dir text := CASE WHEN descending THEN 'DESC' ELSE 'ASC' END;
    cmp text := CASE WHEN descending THEN '<' ELSE '>' END;
    after text := '';
    part text;
BEGIN
    IF sort_column NOT IN ('sort_last', 'sort_first') THEN
        RAISE EXCEPTION 'contact_search_page cannot sort by %', sort_column;
    END IF;
    IF after_id IS NOT NULL THEN
        after := format(' AND (%I, contact_id) %s ($8, $9)', sort_column, cmp);
    END IF;
    part := format(
        '(SELECT contact_id, %I AS k FROM contact_search
          WHERE tenant_id = $1 AND deleted = $7 AND %%s AND search_text LIKE ALL ($5)%s
          ORDER BY %I %s, contact_id %s LIMIT $6)',
        sort_column, after, sort_column, dir, dir);
    RETURN QUERY EXECUTE format(
        'SELECT contact_id FROM (%s UNION %s UNION %s) p ORDER BY k %s, contact_id %s LIMIT $6',
        format(part, 'sort_last >= $2 AND sort_last < $3'),
        format(part, 'sort_first >= $2 AND sort_first < $3'),
        format(part, '(rest_text LIKE $4 OR tail_text LIKE $4)'),
        dir, dir)
    USING tenant, run, run_end, pattern, patterns, lim, trashed, after_key, after_id;
END
$$;

REVOKE ALL ON FUNCTION contact_search_ids(text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_ids(text, text, text, integer) TO carnet_app;
REVOKE ALL ON FUNCTION contact_search_page(text, text, text, text[], text, boolean, boolean, text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_search_page(text, text, text, text[], text, boolean, boolean, text, uuid, integer) TO carnet_app;
