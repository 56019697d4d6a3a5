-- Contacts keep the rowids 0011 gave them (the index is keyed by them and stays consistent);
-- new contacts take SQLite's next rowid again.
DROP TRIGGER contacts_rowid_in_block;
DROP TRIGGER tenants_contact_rowid_block;
DROP TABLE contact_rowid_blocks;
