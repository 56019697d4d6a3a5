//! The command line, as DESIGN.md §4 specifies it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "carnet",
    version,
    about = "Carnet: a multi-tenant CRM you can host yourself"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that come before the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Keep data in SQLite under this directory (default ./carnet-data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use this database instead (postgres://… or sqlite://PATH); env CARNET_DATABASE_URL.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Read settings from this TOML file; unknown keys are an error.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the API.
    Serve(ServeArgs),
    /// Manage workspaces (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Apply pending schema migrations (takes a backup of a SQLite database first).
    Migrate {
        /// Only show what would be applied.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import records from a file: contacts from CSV in any common encoding and delimiter
    /// (detected), XLSX, vCard or Carnet's JSON export; activities from iCalendar.
    Import {
        #[arg(long)]
        tenant: String,
        /// What to import: contacts, or activities (an iCalendar file; only --dry-run
        /// applies to it).
        #[arg(long, default_value = "contacts")]
        entity: String,
        #[arg(long)]
        file: PathBuf,
        /// create, update or upsert.
        #[arg(long, default_value = "upsert")]
        mode: String,
        /// How a row finds its contact: email or id.
        #[arg(long = "match", default_value = "email")]
        match_key: String,
        /// Force the encoding (utf-8, utf-16le, windows-1252, iso-8859-15, …).
        #[arg(long)]
        encoding: Option<String>,
        /// Force the delimiter (one character; `tab` for a tab).
        #[arg(long)]
        delimiter: Option<String>,
        /// A JSON file mapping column headers to fields, overriding detection:
        /// {"Col A": "last_name", "Mail": "email", "Notes": "custom:notes", "X": "ignore"}.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// The sheet of an XLSX workbook to read (by name); the first one otherwise.
        #[arg(long)]
        sheet: Option<String>,
        /// Count what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export a workspace's records to a file (or standard output).
    Export {
        #[arg(long)]
        tenant: String,
        /// What to export: contacts or activities.
        #[arg(long, default_value = "contacts")]
        entity: String,
        /// Contacts: csv, excel-fr, json, xlsx, vcf (vCard 4.0) or vcf3 (vCard 3.0);
        /// activities: ics (iCalendar) or json. Default: csv for contacts, ics for
        /// activities.
        #[arg(long)]
        format: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Add demo contacts (and activities) to a workspace.
    Demo {
        #[arg(long)]
        tenant: String,
        /// How many contacts to add.
        #[arg(long, default_value_t = 200)]
        contacts: usize,
        /// How many activities to add: one each for the workspace's oldest contacts (at most
        /// as many as it has).
        #[arg(long, default_value_t = 0)]
        activities: usize,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<String>,
    /// Create a demo workspace with 200 contacts and print its login (first time only).
    #[arg(long)]
    pub demo: bool,
    /// Refuse every change; reading keeps working.
    #[arg(long)]
    pub read_only: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a workspace.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List workspaces.
    List,
    /// Write everything a workspace holds (contacts, trash, audit log) into one archive
    /// file with a manifest and checksums.
    Export {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        output: PathBuf,
    },
    /// Restore an archive into a new (or empty) workspace; checks every checksum first.
    Restore {
        /// The workspace to restore into; created when it does not exist.
        #[arg(long)]
        slug: String,
        #[arg(long)]
        input: PathBuf,
        /// Its name, when it is created (default: the archived workspace's).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (or add an existing one) in a workspace.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// owner, admin, manager, member, readonly or external.
        #[arg(long, default_value = "member")]
        role: String,
        /// Display name (defaults to the e-mail's local part).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; the key is printed once, as the last line.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// read, write or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List a workspace's API keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke an API key.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
}
