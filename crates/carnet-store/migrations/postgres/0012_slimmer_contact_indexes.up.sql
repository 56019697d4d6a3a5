-- A contact's writes touch fewer index entries (bench/results/http.md, nineteenth session):
-- `contacts_owner` and `contacts_company` hold only contacts that have an owner or a
-- company. Every query reaching them asks for one (`owner_id = $n`, `company_id = $n`, and
-- the foreign key's check when a user is deleted), which implies the partial index's
-- condition; a contact without one no longer costs an entry in each. (SQLite's 0012 also
-- makes its key tables WITHOUT ROWID; PostgreSQL has no such table kind.)
DROP INDEX contacts_owner;
CREATE INDEX contacts_owner ON contacts (owner_id) WHERE owner_id IS NOT NULL;
DROP INDEX contacts_company;
CREATE INDEX contacts_company ON contacts (tenant_id, company_id) WHERE company_id IS NOT NULL;
