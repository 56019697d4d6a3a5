"""What SQLite itself takes to store an import's rows: the raw baseline of `bench/import/run`.

Copies every row a finished `carnet import` wrote (contacts with their rowids, their e-mail
and tag index rows, their audit events) from IMPORTED into EMPTY, a freshly migrated
database with the same schema (triggers and indexes included), with `INSERT ... SELECT` in
transactions of BATCH contacts, under Carnet's own settings (WAL, synchronous=FULL, the
writer's cache). No parsing, no validation, no binding: the rate SQLite reaches here bounds what any import of
these rows can reach on this machine, whatever the code around it.

Usage: python3 sqlite_floor.py IMPORTED EMPTY [BATCH]; prints "ROWS SECONDS".
"""

import sqlite3
import sys
import time

imported, empty = sys.argv[1], sys.argv[2]
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000

db = sqlite3.connect(empty, isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-65536"):
    db.execute(f"PRAGMA {pragma}")
db.execute("ATTACH ? AS src", (imported,))
for table in ("tenants", "users", "memberships"):
    db.execute(f"INSERT INTO {table} SELECT * FROM src.{table}")
# Each tenant's block of contact rowids as the import had it (migration 0011), so that the
# contacts keep their rowids.
db.execute("DELETE FROM contact_rowid_blocks")
db.execute("INSERT INTO contact_rowid_blocks SELECT * FROM src.contact_rowid_blocks")
columns = [row[1] for row in db.execute("PRAGMA src.table_info(contacts)")]
# Each contact's position, to copy it, its index rows and audit event in batches.
db.execute(
    "CREATE TEMP TABLE batch_of AS"
    " SELECT row_number() OVER (ORDER BY rowid) AS n, rowid AS source_rowid, tenant_id, id FROM src.contacts"
)
db.execute("CREATE INDEX temp.batch_of_n ON batch_of (n)")
(total,) = db.execute("SELECT count(*) FROM src.contacts").fetchone()

start = time.monotonic()
for first in range(1, total + 1, batch):
    last = first + batch - 1
    db.execute("BEGIN")
    db.execute(
        f"INSERT INTO contacts (rowid, {', '.join(columns)})"
        f" SELECT c.rowid, {', '.join('c.' + c for c in columns)}"
        " FROM batch_of b JOIN src.contacts c ON c.rowid = b.source_rowid WHERE b.n BETWEEN ? AND ?",
        (first, last),
    )
    for table in ("contact_emails", "contact_tags"):
        db.execute(
            f"INSERT INTO {table} SELECT k.* FROM batch_of b JOIN src.{table} k"
            " ON k.tenant_id = b.tenant_id AND k.contact_id = b.id WHERE b.n BETWEEN ? AND ?",
            (first, last),
        )
    db.execute(
        "INSERT INTO audit_events SELECT a.* FROM batch_of b JOIN src.audit_events a"
        " ON a.tenant_id = b.tenant_id AND a.entity = 'contact' AND a.entity_id = b.id"
        " WHERE b.n BETWEEN ? AND ?",
        (first, last),
    )
    db.execute("COMMIT")
seconds = time.monotonic() - start

(copied,) = db.execute("SELECT count(*) FROM contacts").fetchone()
if copied != total:
    sys.exit(f"copied {copied} contacts of {total}")
print(total, round(seconds, 2))
