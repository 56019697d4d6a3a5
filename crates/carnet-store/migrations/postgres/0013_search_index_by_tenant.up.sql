-- The trigram index of the search table (0009) held no tenant: a search in a small workspace
-- for a word common in a large one built a bitmap of every workspace's matches before it kept
-- its own rows. At a million contacts in one workspace, "martin" (a company name there,
-- 106,729 matches) cost a 2,000-contact workspace's search 33 ms, and that grows with every
-- other workspace's data. The tenant is now the index's last column (btree_gin's equality):
-- the index finds the workspace's own matches alone, 1.8 ms. As the first column it did as
-- well there, but the large workspace's own searches then read its whole entry in the index
-- (a million rows: 1.9 → 5.6 ms for a rare phone number). Creates pay for the key more:
-- 5–13 % in A/B rounds (bench/results/http.md, twenty-fourth session).
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX contact_search_rest_trigrams;
CREATE INDEX contact_search_rest_trigrams ON contact_search
    USING gin (rest_text gin_trgm_ops, tail_text gin_trgm_ops, tenant_id);
