-- The FTS5 search index (0005) holds every tenant's contacts, keyed by `contacts.rowid`. A
-- search ran over all its matches, whichever tenant they belonged to, and the list then kept
-- its own: a workspace of 3,000 contacts searching a word 300,000 contacts of another
-- workspace hold took 50-100 ms (and how long told it that the other held the word).
--
-- Each tenant now owns a block of rowids, [block << 40, (block + 1) << 40): 2^40 contacts per
-- tenant, 2^23 - 1 tenants before the blocks leave SQLite's 63-bit rowids. A search asks the index
-- for its tenant's block alone (an FTS5 rowid range, which seeks into each segment), so it
-- reads only its own tenant's matches. Contacts are written with an explicit rowid, one past
-- the highest of their tenant's block (`carnet-store/src/contacts.rs`); the trigger below
-- refuses a contact whose rowid lies outside its tenant's block, so that none can be stored
-- where its tenant's searches would never find it.
--
-- The block is the INTEGER PRIMARY KEY of `contact_rowid_blocks`, a value SQLite keeps as
-- it is (VACUUM may renumber the implicit rowids of other tables, never these).
CREATE TABLE contact_rowid_blocks (
    block      INTEGER PRIMARY KEY,
    tenant_id  BLOB NOT NULL UNIQUE REFERENCES tenants (id)
);
INSERT INTO contact_rowid_blocks (block, tenant_id)
SELECT row_number() OVER (ORDER BY rowid), id FROM tenants;

CREATE TRIGGER tenants_contact_rowid_block AFTER INSERT ON tenants BEGIN
    INSERT INTO contact_rowid_blocks (tenant_id) VALUES (new.id);
END;

-- Every contact moves into its tenant's block, in its present order. The new rowids start at
-- 2^40 + 1, above every present one (written in sequence from 1), so none collides with a
-- row not yet moved.
UPDATE contacts SET rowid = moved.rowid_in_block
FROM (
    SELECT c.rowid AS old_rowid,
           (b.block << 40) + row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.rowid)
               AS rowid_in_block
    FROM contacts c JOIN contact_rowid_blocks b ON b.tenant_id = c.tenant_id
) AS moved
WHERE contacts.rowid = moved.old_rowid;

-- The index is keyed by rowid: built again from the moved contacts.
INSERT INTO contact_search (contact_search) VALUES ('rebuild');

-- A contact written without a rowid would take SQLite's next one (new.rowid is -1 here), in
-- the last tenant's block or past it: refused like any other outside its tenant's block.
CREATE TRIGGER contacts_rowid_in_block BEFORE INSERT ON contacts
WHEN NOT EXISTS (
    SELECT 1 FROM contact_rowid_blocks b
    WHERE b.tenant_id = new.tenant_id AND b.block = new.rowid >> 40
)
BEGIN
    SELECT RAISE(ABORT, 'a contact''s rowid must lie in its tenant''s block (migration 0011)');
END;
