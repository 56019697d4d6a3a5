"""The create scenario's floor: the database alone storing what Carnet's creates stored.

The raw baseline of `create` is a durable one-row insert into a table without indexes. A
contact is more: its row, its search row (the database's own trigger), its e-mail and tag
key rows and its audit event, some fifteen index entries. This measures what the database
itself takes to store exactly that, with nothing of Carnet in between (no HTTP, JSON,
validation or binding): the contacts the scenario just created are copied again, with fresh
ids, each copy its own durable transaction, under Carnet's own settings. On PostgreSQL that
is SESSIONS server-side loops (no round trips) as Carnet's role with its session's GIN
pending list size, the workspace set per transaction as Carnet sets it; on SQLite one
connection (SQLite has one writer). The copies stay in the database (the audit log is
append-only); they bear the scenario's names, which no other scenario asks for.

Carnet at 1 × this floor stores contacts as fast as its database does one at a time, and
above it when creates share commits.
"""

import sqlite3
import subprocess
import time
import uuid

# The contacts the create scenario stored (`bench/http/load.lua`), newest first.
CREATED = "first_name = 'Bench' AND last_name LIKE 'Créé %'"
# SQLite: one past the highest rowid of the tenant's block (migration 0011), as Carnet writes.
SQLITE_NEXT_ROWID = (
    "(SELECT coalesce((SELECT max(c.rowid) FROM contacts c WHERE c.rowid BETWEEN b.block << 40"
    " AND (b.block << 40) + 1099511627775), b.block << 40) + 1"
    " FROM contact_rowid_blocks b WHERE b.tenant_id = :tenant)"
)


def _copy_sql(columns, replaced, table, where):
    """`INSERT INTO table SELECT …` of one source row, the `replaced` columns' values given."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT "
            f"{', '.join(replaced.get(c, c) for c in columns)} FROM {table} WHERE {where}")


def sqlite(path, count):
    """Contacts per second SQLite stores when it copies the `count` newest created ones, each
    copy (row, key rows, event) one durable transaction; and how many it copied."""
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    for pragma in ("synchronous=FULL", "foreign_keys=ON", "cache_size=-65536"):
        db.execute(f"PRAGMA {pragma}")

    def columns(table):
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]

    contact = (f"INSERT INTO contacts (rowid, {', '.join(columns('contacts'))}) SELECT "
               f"{SQLITE_NEXT_ROWID}, "
               + ", ".join(":id" if c == "id" else c for c in columns("contacts"))
               + " FROM contacts WHERE rowid = :source_rowid")
    keys = [_copy_sql(columns(t), {"contact_id": ":id"}, t,
                      "tenant_id = :tenant AND contact_id = :source")
            for t in ("contact_emails", "contact_tags")]
    event = _copy_sql(columns("audit_events"), {"id": ":event", "entity_id": ":id"}, "audit_events",
                      "tenant_id = :tenant AND entity = 'contact' AND entity_id = :source"
                      " AND action = 'create'")
    picks = db.execute(f"SELECT rowid, tenant_id, id FROM contacts WHERE {CREATED}"
                       " ORDER BY created_at DESC LIMIT ?", (count,)).fetchall()
    start = time.monotonic()
    for source_rowid, tenant, source in picks:
        values = {"tenant": tenant, "source": source, "source_rowid": source_rowid,
                  "id": uuid.uuid4().bytes, "event": uuid.uuid4().bytes}
        db.execute("BEGIN IMMEDIATE")
        stored = [db.execute(sql, values).rowcount for sql in (contact, *keys, event)]
        if stored[0] != 1 or stored[-1] != 1:
            raise RuntimeError(f"floor: copying contact {uuid.UUID(bytes=source)} stored {stored}")
        db.execute("COMMIT")
    seconds = time.monotonic() - start
    db.close()
    return len(picks) / seconds, len(picks)


def postgres(url, count, sessions):
    """Contacts per second PostgreSQL stores when `sessions` server-side loops copy the
    `count` newest created ones, each copy one durable transaction; and how many were
    copied."""
    def psql(sql):
        return subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, check=True).stdout

    psql("DROP TABLE IF EXISTS floor_picks")
    psql(f"CREATE UNLOGGED TABLE floor_picks AS SELECT row_number() OVER () - 1 AS n, tenant_id, id"
         f" FROM (SELECT tenant_id, id FROM contacts WHERE {CREATED}"
         f" ORDER BY created_at DESC LIMIT {int(count)}) AS picked")
    psql("CREATE UNIQUE INDEX ON floor_picks (n); GRANT SELECT ON floor_picks TO carnet_app")
    picked = int(psql("SELECT count(*) FROM floor_picks").strip())
    before = int(psql("SELECT count(*) FROM contacts").strip())

    def columns(table):
        return psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM"
                    f" information_schema.columns WHERE table_schema = 'public'"
                    f" AND table_name = '{table}'").strip().split(",")

    contact = _copy_sql(columns("contacts"), {"id": "fresh"}, "contacts",
                        "tenant_id = p.tenant_id AND id = p.id")
    keys = [_copy_sql(columns(t), {"contact_id": "fresh"}, t,
                      "tenant_id = p.tenant_id AND contact_id = p.id")
            for t in ("contact_emails", "contact_tags")]
    event = _copy_sql(columns("audit_events"), {"id": "gen_random_uuid()", "entity_id": "fresh"},
                      "audit_events", "tenant_id = p.tenant_id AND entity = 'contact'"
                      " AND entity_id = p.id AND action = 'create'")
    statements = ";\n            ".join((contact, *keys, event))

    def loop(k):
        return f"""DO $$
DECLARE
    p record;
    fresh uuid;
BEGIN
    FOR i IN 0..{picked - 1} LOOP
        CONTINUE WHEN i % {sessions} <> {k};
        SELECT * INTO p FROM floor_picks WHERE n = i;
        PERFORM set_config('app.tenant_id', p.tenant_id::text, true);
        fresh := gen_random_uuid();
            {statements};
        COMMIT;
    END LOOP;
END
$$;"""

    start = time.monotonic()
    procs = [subprocess.Popen(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1",
                               "-c", "SET ROLE carnet_app; SET gin_pending_list_limit = '256kB'",
                               "-c", loop(k)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for k in range(sessions)]
    failed = [p.communicate()[1] for p in procs if p.wait() != 0]
    seconds = time.monotonic() - start
    psql("DROP TABLE floor_picks")
    if failed:
        raise RuntimeError(f"floor: {failed[0].strip()[-2000:]}")
    copied = int(psql("SELECT count(*) FROM contacts").strip()) - before
    if copied != picked:
        raise RuntimeError(f"floor: {copied} contacts copied of {picked}")
    return picked / seconds, picked


if __name__ == "__main__":
    # By hand: python3 floor.py sqlite PATH COUNT | postgres URL COUNT SESSIONS
    import sys
    kind, where, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rate, copied = (sqlite(where, n) if kind == "sqlite"
                    else postgres(where, n, int(sys.argv[4])))
    print(f"{copied} contacts copied, {rate:,.0f}/s")
