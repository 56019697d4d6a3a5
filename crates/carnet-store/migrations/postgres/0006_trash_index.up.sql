-- The trash: a partial index of the contacts in it, so that listing a small trash does not
-- walk every live contact of the tenant (seconds at a million contacts).
CREATE INDEX contacts_trash ON contacts (tenant_id, id) WHERE deleted_at IS NOT NULL;
