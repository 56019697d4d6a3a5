DROP INDEX contacts_company;
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);
DROP INDEX contacts_owner;
CREATE INDEX contacts_owner ON contacts (owner_id);
