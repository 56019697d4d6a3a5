-- btree_gin stays: it may predate this migration, and it holds no data.
DROP INDEX contact_search_rest_trigrams;
CREATE INDEX contact_search_rest_trigrams ON contact_search
    USING gin (rest_text gin_trgm_ops, tail_text gin_trgm_ops);
