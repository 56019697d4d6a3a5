//! Raw SQLite baselines for `bench/http/run`: how many point reads and how many durable
//! single-row inserts per second SQLite itself does on this machine, with the settings Carnet
//! uses (WAL, `synchronous = FULL`), so that Carnet's HTTP figures can be read as ratios of
//! them, as PostgreSQL's are of pgbench's. Prints one JSON object.

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    /// `SELECT … WHERE aid = ?` on a pgbench-like accounts table (pgbench -S).
    Read,
    /// One-row `INSERT`, each its own durable transaction.
    Insert,
}

#[derive(Debug, Parser)]
struct Args {
    workload: Workload,
    /// The database file (created when missing).
    #[arg(long)]
    db: PathBuf,
    /// Rows in the accounts table (read).
    #[arg(long, default_value_t = 1_000_000)]
    rows: i64,
    /// Threads, each with its own connection.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let setup = open(&args.db, false)?;
    // Persistent, so set once here: workers opening at once would contend for its lock.
    setup.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    match args.workload {
        Workload::Read => fill_accounts(&setup, args.rows)?,
        Workload::Insert => setup.execute_batch(
            "CREATE TABLE IF NOT EXISTS history (
                 id INTEGER PRIMARY KEY, tid INTEGER NOT NULL, delta INTEGER NOT NULL,
                 mtime TEXT NOT NULL, filler TEXT NOT NULL)",
        )?,
    }
    // SQLite takes one writer at a time: like Carnet, inserting threads share one writer
    // connection (separate connections would only wait on each other's locks).
    let writer = Arc::new(Mutex::new(setup));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|n| {
            let stop = Arc::clone(&stop);
            let db = args.db.clone();
            let writer = Arc::clone(&writer);
            let rows = args.rows;
            match args.workload {
                Workload::Read => std::thread::spawn(move || read(&db, rows, n as u64, &stop)),
                Workload::Insert => std::thread::spawn(move || insert(&writer, n as u64, &stop)),
            }
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut ops = 0u64;
    for w in workers {
        match w.join() {
            Ok(done) => ops += done?,
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "workload": format!("{:?}", args.workload).to_lowercase(),
            "threads": args.threads,
            "ops": ops,
            "seconds": seconds,
            "rate": ops as f64 / seconds,
        })
    );
    Ok(())
}

/// A connection with Carnet's settings (the database is in WAL mode once set up).
fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let c = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {}", path.display()))?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.execute_batch("PRAGMA synchronous = FULL")?;
    Ok(c)
}

/// pgbench's accounts table, `rows` rows (kept between runs).
fn fill_accounts(c: &Connection, rows: i64) -> Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS accounts (
             aid INTEGER PRIMARY KEY, bid INTEGER NOT NULL, abalance INTEGER NOT NULL,
             filler TEXT NOT NULL)",
    )?;
    let have: i64 = c.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?;
    if have >= rows {
        return Ok(());
    }
    c.execute_batch("BEGIN")?;
    {
        let mut insert =
            c.prepare("INSERT INTO accounts (aid, bid, abalance, filler) VALUES (?1, ?2, 0, ?3)")?;
        let filler = " ".repeat(84);
        for aid in have + 1..=rows {
            insert.execute(params![aid, aid / 100_000, filler])?;
        }
    }
    c.execute_batch("COMMIT")?;
    Ok(())
}

/// A reading worker, on its own read-only connection: point reads done until `stop`.
fn read(db: &Path, rows: i64, seed: u64, stop: &AtomicBool) -> Result<u64> {
    let c = open(db, true)?;
    let mut select = c.prepare("SELECT abalance FROM accounts WHERE aid = ?1")?;
    let span = u64::try_from(rows.max(1))?;
    let mut rng = Xorshift::new(seed);
    let mut ops = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let aid = i64::try_from(rng.next() % span)? + 1;
        let _balance: i64 = select.query_row([aid], |r| r.get(0))?;
        ops += 1;
    }
    Ok(ops)
}

/// An inserting worker: durable one-row transactions done on the shared writer until `stop`.
fn insert(writer: &Mutex<Connection>, seed: u64, stop: &AtomicBool) -> Result<u64> {
    let filler = " ".repeat(22);
    let mut rng = Xorshift::new(seed);
    let mut ops = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let delta = i64::try_from(rng.next() % 10_000)?;
        let c = writer
            .lock()
            .map_err(|_| anyhow::anyhow!("writer lock poisoned"))?;
        c.prepare_cached(
            "INSERT INTO history (tid, delta, mtime, filler) VALUES (?1, ?2, datetime('now'), ?3)",
        )?
        .execute(params![i64::try_from(seed)?, delta, filler])?;
        ops += 1;
    }
    Ok(ops)
}

/// Random keys, the same for a seed.
struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Self {
        Self(0x9E37_79B9_7F4A_7C15_u64 ^ (seed + 1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
