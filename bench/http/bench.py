"""HTTP benchmark of Carnet against the raw database, for bench/http/run (read that first).

For each backend: the raw baselines (pgbench on PostgreSQL; bench/baseline on SQLite), then
for each size a tenant seeded up to that many contacts (and as many activities), a fresh `carnet serve` (time to ready,
idle RSS) and the scenarios under wrk at 1 and 16 connections (the first, `healthz`, is the
server's own floor: the same HTTP stack with no database), an export and a CSV import
through the API, and the server's RSS after all that. The scenarios with a raw counterpart
(get by id: point reads; create: durable one-row inserts) run between two raw runs of it at
the same connection count, and their ratio is to the mean of those two: this machine's disk
and CPU change speed within minutes, and a baseline taken at the start of the run can be
twice or half what the database does when Carnet's scenario runs. After each create run,
the database alone stores the contacts it created again, one durable transaction each
(`floor.py`): what a contact, not a one-row insert, costs the database. Appends a Markdown
report to bench/results/http.md. Figures are recorded, never asserted.
"""

import argparse
import datetime
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import floor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CARNET = os.path.join(ROOT, "target", "release", "carnet")
BASELINE = os.path.join(ROOT, "target", "release", "sqlite-baseline")
LOAD = os.path.join(ROOT, "bench", "http", "load.lua")
RESULTS = os.path.join(ROOT, "bench", "results", "http.md")
SCENARIOS = ["healthz", "get", "create", "update", "list", "search-name", "search-rare",
             "search-neighbour", "timeline", "activity"]
# Common demo names (thousands of matches at 1M) and their fragments.
NAME_TERMS = ["martin", "dubois", "smith", "lefevre", "camille", "garcon", "chevalier", "eloise"]
# The neighbour: a second, small workspace in the same database whose contacts bear none of
# those names. `search-neighbour` searches them there: what one workspace's search costs
# beside a large one (SQLite's full-text index holds every workspace's contacts).
NEIGHBOUR_CONTACTS = 2000
NEIGHBOUR_NAMES = [("Nikos", "Papadopoulos"), ("Eleni", "Georgiou"), ("Yannis", "Karagiannis"),
                   ("Sofia", "Nikolaidou"), ("Kostas", "Vlachos")]
# The bench workspace's own contacts, in SQL (ids and terms are sampled from them alone).
BENCH_TENANT = "tenant_id = (SELECT id FROM tenants WHERE slug = 'bench')"
# The scenarios measured against the raw database, and the raw workload each is read against.
RAW = {"get": "read", "create": "insert"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


class Backend:
    """Where the bench's Carnet keeps its data, and the raw baselines of that database."""

    def __init__(self, name, work, pg_admin):
        self.name, self.work, self.pg_admin = name, work, pg_admin
        if name == "sqlite":
            self.flags = ["--data-dir", os.path.join(work, "sqlite")]
        else:
            self.db = f"carnet_bench_{os.getpid()}"
            sh(["psql", pg_admin, "-qc", f"DROP DATABASE IF EXISTS {self.db}"])
            sh(["psql", pg_admin, "-qc", f"CREATE DATABASE {self.db}"])
            self.url = pg_admin.rsplit("/", 1)[0] + "/" + self.db
            self.flags = ["--database-url", self.url]
        self.pgbench_db = None

    def carnet(self, *args):
        return sh([CARNET, *self.flags, *args])

    def sample(self, sql):
        """Rows of `sql` run as the owner (ids and phone numbers to request)."""
        if self.name == "sqlite":
            c = sqlite3.connect(os.path.join(self.work, "sqlite", "carnet.sqlite"))
            rows = c.execute(sql).fetchall()
            c.close()
            return rows
        out = sh(["psql", self.url, "-AtF", "\t", "-c", sql])
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def random_ids(self, n):
        rows = self.sample(f"SELECT id FROM contacts WHERE {BENCH_TENANT} ORDER BY random() LIMIT {n}")
        if self.name == "sqlite":
            return [str(uuid.UUID(bytes=r[0])) for r in rows]
        return [r[0] for r in rows]

    def raw_setup(self):
        """Prepares the raw baselines' database: pgbench's tables on PostgreSQL (SQLite's
        baseline makes its own file)."""
        if self.name == "postgres":
            self.pgbench_db = f"carnet_bench_pgbench_{os.getpid()}"
            sh(["psql", self.pg_admin, "-qc", f"DROP DATABASE IF EXISTS {self.pgbench_db}"])
            sh(["psql", self.pg_admin, "-qc", f"CREATE DATABASE {self.pgbench_db}"])
            self.pgbench_url = self.pg_admin.rsplit("/", 1)[0] + "/" + self.pgbench_db
            sh(["pgbench", "-i", "-q", "-s", "10", self.pgbench_url])
            self.insert_script = os.path.join(self.work, "insert.sql")
            with open(self.insert_script, "w") as f:
                f.write("\\set aid random(1, 1000000)\n\\set delta random(-5000, 5000)\n"
                        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                        "VALUES (1, 1, :aid, :delta, CURRENT_TIMESTAMP);\n")

    def raw(self, workload, conns, seconds):
        """The raw database's rate, measured now, for `workload` ("read": point reads;
        "insert": durable one-row inserts) at `conns` connections."""
        if self.name == "sqlite":
            r = json.loads(sh([BASELINE, workload, "--db", os.path.join(self.work, "baseline.sqlite"),
                               "--threads", str(conns), "--seconds", str(seconds)]))
            return r["rate"]
        extra = ["-S"] if workload == "read" else ["-n", "-f", self.insert_script]
        text = sh(["pgbench", *extra, "-M", "prepared", "-c", str(conns),
                   "-j", str(min(conns, 2)), "-T", str(seconds), self.pgbench_url])
        return float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text).group(1))

    def create_floor(self, count, conns):
        """The database alone storing the `count` contacts the create scenario just stored
        again, one durable transaction each, at `conns` sessions (`floor.py`): contacts a
        second."""
        if self.name == "sqlite":
            return floor.sqlite(os.path.join(self.work, "sqlite", "carnet.sqlite"), count)[0]
        return floor.postgres(self.url, count, conns)[0]

    def raw_drop(self):
        if self.pgbench_db:
            sh(["psql", self.pg_admin, "-qc", f"DROP DATABASE IF EXISTS {self.pgbench_db} WITH (FORCE)"])

    def analyze(self):
        """Fresh planner statistics after seeding, as autovacuum would gather them (it is off
        on some machines, this one included; the planner then misjudges every query)."""
        if self.name == "postgres":
            sh(["psql", self.url, "-qc", "VACUUM ANALYZE"])

    def drop(self):
        if self.name == "postgres":
            sh(["psql", self.pg_admin, "-qc", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """A running `carnet serve`; how long it took to answer /readyz."""

    def __init__(self, backend):
        self.port = free_port()
        start = time.monotonic()
        self.proc = subprocess.Popen(
            [CARNET, *backend.flags, "serve", "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(backend.work, "serve.log"), "a"))
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("carnet serve exited; see serve.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        self.ready_s = time.monotonic() - start

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def wrk(server, scenario, conns, seconds, ids_file, terms_file, key):
    args = ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{seconds}s",
            "--timeout", "10s", "-s", LOAD, f"http://127.0.0.1:{server.port}", "--",
            scenario.split("-")[0], ids_file, terms_file, key]
    out = sh(args)
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def export_csv(server, key):
    """Seconds and rows of a whole CSV export, and the server's peak RSS meanwhile."""
    peak, done = [rss_mb(server.proc.pid)], threading.Event()

    def watch():
        while not done.wait(0.1):
            peak.append(rss_mb(server.proc.pid))

    t = threading.Thread(target=watch)
    t.start()
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    c.request("GET", "/api/v1/contacts/export?format=csv", headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse()
    lines = 0
    while chunk := r.read(1 << 20):
        lines += chunk.count(b"\n")
    secs = time.monotonic() - start
    done.set()
    t.join()
    if r.status != 200:
        raise RuntimeError(f"export answered {r.status}")
    return secs, lines - 1, max(peak)


def import_csv(server, key, rows, work):
    """Seconds from upload to a finished job for a `rows`-row CSV, through the API."""
    rnd = random.Random(7)
    body_csv = "Prénom;Nom;E-mail;Téléphone portable;Étiquettes\r\n" + "".join(
        f"Élise;Import{i};import-{uuid.uuid4().hex[:12]}@exemple.fr;+33 6 {rnd.randrange(10**8):08d};Import\r\n"
        for i in range(rows))
    boundary = "carnetbench" + uuid.uuid4().hex
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ncsv\r\n".encode(),
        (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"
         "Content-Type: text/csv\r\n\r\n").encode() + body_csv.encode("cp1252") + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    body = b"".join(parts)
    headers = {"Authorization": f"Bearer {key}",
               "Content-Type": f"multipart/form-data; boundary={boundary}"}
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    c.request("POST", "/api/v1/imports", body=body, headers=headers)
    r = c.getresponse()
    answer = r.read()
    if r.status != 202:
        raise RuntimeError(f"import answered {r.status}: {answer[:300]!r}")
    location = r.getheader("Location")
    while True:
        c.request("GET", location, headers={"Authorization": f"Bearer {key}"})
        job = json.loads(c.getresponse().read())
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    secs = time.monotonic() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"import failed: {job}")
    return secs


def seed_neighbour(backend, work):
    """The small workspace beside the bench's (NEIGHBOUR_CONTACTS contacts, imported from a
    CSV); returns a read key of it."""
    backend.carnet("tenant", "create", "--slug", "neighbour", "--name", "Neighbour")
    path = os.path.join(work, "neighbour.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("First Name,Last Name,E-mail Address\r\n")
        for i in range(NEIGHBOUR_CONTACTS):
            first, last = NEIGHBOUR_NAMES[i % len(NEIGHBOUR_NAMES)]
            f.write(f"{first},{last},{first.lower()}.{last.lower()}{i}@geitonas.gr\r\n")
    backend.carnet("import", "--tenant", "neighbour", "--file", path)
    return backend.carnet("apikey", "create", "--tenant", "neighbour", "--name", "bench",
                          "--scope", "read").strip().splitlines()[-1]


def run_backend(name, sizes, seconds, pg_admin, report):
    work = tempfile.mkdtemp(prefix=f"carnet-http-{name}-")
    backend = Backend(name, work, pg_admin)
    try:
        log(f"{name}: raw baselines")
        backend.raw_setup()
        base = {(w, c): backend.raw(w, c, seconds) for w in ("read", "insert") for c in (1, 16)}
        tool = "bench/baseline (rusqlite)" if name == "sqlite" else "pgbench -M prepared"
        report(
            f"Raw {name} ({tool}) at the start of the run: point reads "
            f"{base[('read', 1)]:,.0f}/s at 1 connection, "
            f"{base[('read', 16)]:,.0f}/s at 16; durable one-row inserts {base[('insert', 1)]:,.0f}/s "
            f"at 1, {base[('insert', 16)]:,.0f}/s at 16. Get and create are read against the raw "
            "runs just before and after each (the table's raw columns).\n")
        backend.carnet("migrate")
        backend.carnet("tenant", "create", "--slug", "bench", "--name", "Bench")
        key = backend.carnet("apikey", "create", "--tenant", "bench", "--name", "bench",
                             "--scope", "read", "--scope", "write").strip().splitlines()[-1]
        neighbour = seed_neighbour(backend, work)
        seeded = 0
        rows = []
        for size in sizes:
            log(f"{name}: seeding up to {size} contacts")
            start = time.monotonic()
            backend.carnet("demo", "--tenant", "bench", "--contacts", str(size - seeded),
                           "--activities", str(size - seeded))
            seed_s = time.monotonic() - start
            backend.analyze()
            # What seeding left dirty in the page cache would be written back by the kernel
            # during the first scenarios, slowing their commits: flushed before them.
            os.sync()
            seeded = size
            ids_file = os.path.join(work, "ids.txt")
            with open(ids_file, "w") as f:
                f.write("\n".join(backend.random_ids(2000)) + "\n")
            phones = backend.sample(
                f"SELECT phones FROM contacts WHERE {BENCH_TENANT} ORDER BY random() LIMIT 200")
            rare = []
            for (p,) in phones:
                digits = re.sub(r"\D", "", json.loads(p)[0]["value"]) if json.loads(p) else ""
                if len(digits) >= 8:
                    rare.append(digits[-7:])
            names_file = os.path.join(work, "names.txt")
            rare_file = os.path.join(work, "rare.txt")
            with open(names_file, "w") as f:
                f.write("\n".join(NAME_TERMS) + "\n")
            with open(rare_file, "w") as f:
                f.write("\n".join(rare) + "\n")
            server = Server(backend)
            time.sleep(2)
            idle = rss_mb(server.proc.pid)
            log(f"{name} {size}: ready in {server.ready_s * 1000:.0f} ms, idle RSS {idle:.1f} MB")
            wrk(server, "get", 4, 2, ids_file, names_file, key)  # warm-up
            for scenario in SCENARIOS:
                terms = rare_file if scenario == "search-rare" else names_file
                who = neighbour if scenario == "search-neighbour" else key
                for conns in (1, 16):
                    # Requests whose client wrk dropped at the end of the previous scenario
                    # still run to completion (each request finishes whole): let them, or
                    # they weigh on the first requests of this one.
                    time.sleep(3)
                    raw = RAW.get(scenario)
                    before = backend.raw(raw, conns, seconds) if raw else None
                    r = wrk(server, scenario, conns, seconds, ids_file, terms, who)
                    log(f"{name} {size} {scenario} c{conns}: {r}")
                    time.sleep(3)
                    after = backend.raw(raw, conns, seconds) if raw else None
                    alone = backend.create_floor(r["requests"], conns) if scenario == "create" else None
                    rows.append((size, scenario, conns, r, (before, after), alone))
            exp_s, exp_rows, exp_rss = export_csv(server, key)
            log(f"{name} {size}: export {exp_rows} rows in {exp_s:.1f}s, peak RSS {exp_rss:.0f} MB")
            imp_rows = 10_000
            imp_s = import_csv(server, key, imp_rows, work)
            log(f"{name} {size}: import {imp_rows} rows in {imp_s:.1f}s")
            loaded = rss_mb(server.proc.pid)
            peak = rss_mb(server.proc.pid, "VmHWM")
            server.stop()
            report(section(name, size, seed_s, server.ready_s, idle, loaded, peak,
                                  rows, (exp_s, exp_rows, exp_rss), (imp_rows, imp_s)))
            rows = []
    finally:
        backend.raw_drop()
        backend.drop()


def section(name, size, seed_s, ready_s, idle, loaded, peak, rows, export, imp):
    out = [f"### {name}, {size:,} contacts", "",
           f"Seeded in {seed_s:.1f} s; ready {ready_s * 1000:.0f} ms after start; RSS idle "
           f"{idle:.1f} MB, after the load {loaded:.1f} MB (peak {peak:.1f} MB).", "",
           "| scenario | conns | req/s | p50 ms | p99 ms | errors | raw before | raw after | ratio |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size_, scenario, conns, r, (before, after), _ in rows:
        ratio = f"{r['rps'] / ((before + after) / 2):.2f}" if before else ""
        raw = (f"{before:,.0f} | {after:,.0f}") if before else " | "
        out.append(f"| {scenario} | {conns} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                   f"{r['errors'] + r['non_2xx']} | {raw} | {ratio} |")
    http_floor = {conns: r["rps"] for _, scenario, conns, r, _, _ in rows if scenario == "healthz"}
    gets = {conns: r["rps"] for _, scenario, conns, r, _, _ in rows if scenario == "get"}
    if http_floor and gets:
        out += ["", "Against the server's own floor (`healthz`: the same HTTP stack, load tool and "
                "machine, no database): get by id " + ", ".join(
                    f"{gets[c] / http_floor[c]:.2f} × at {c} connection{'s' if c > 1 else ''}"
                    for c in sorted(gets) if c in http_floor) + "."]
    creates = [(conns, r["rps"], alone) for _, scenario, conns, r, _, alone in rows
               if scenario == "create"]
    if creates:
        out += ["", "Against the database alone storing the same contacts again (`floor.py`: "
                "row, key rows and event with fresh ids, one durable transaction each, as many "
                "sessions as connections on PostgreSQL, SQLite's one writer): create " + ", ".join(
                    f"{rps / alone:.2f} × at {c} connection{'s' if c > 1 else ''} "
                    f"({alone:,.0f} contacts/s alone)" for c, rps, alone in creates) + "."]
    exp_s, exp_rows, exp_rss = export
    imp_rows, imp_s = imp
    out += ["", f"Export (CSV, API): {exp_rows:,} rows in {exp_s:.1f} s = {exp_rows / exp_s:,.0f} rows/s, "
            f"server peak RSS meanwhile {exp_rss:.0f} MB. Import (CSV, API, upload to finished job): "
            f"{imp_rows:,} rows in {imp_s:.1f} s = {imp_rows / imp_s:,.0f} rows/s.", ""]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--seconds", type=int, default=10)
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    pg_admin = os.environ.get("CARNET_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
    if not os.path.exists(RESULTS):
        with open(RESULTS, "w") as f:
            f.write("# HTTP benchmark results (bench/http/run)\n\n")

    def report(text):
        """Appends to the results as each part is measured: an interrupted run keeps them."""
        with open(RESULTS, "a") as f:
            f.write(text + "\n")
        print(text, flush=True)

    report(f"## {datetime.date.today()} (commit {commit}, {os.cpu_count()} cores, "
           f"{a.seconds} s per scenario)\n")
    for name in a.backends.split(","):
        run_backend(name, sizes, a.seconds, pg_admin, report)


if __name__ == "__main__":
    main()
