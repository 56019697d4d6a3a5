//! The `carnet-status` binary: `carnet-status --config status.toml [--listen ADDR]`.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Carnet's public status page.
#[derive(Debug, Parser)]
#[command(name = "carnet-status", version)]
struct Args {
    /// The TOML configuration (components, probes, admin token).
    #[arg(long, required_unless_present = "hash_password")]
    config: Option<PathBuf>,
    /// Read a password on standard input and print its hash for `admin_password_hash`.
    #[arg(long)]
    hash_password: bool,
    /// Where to listen (overrides `listen` in the configuration).
    #[arg(long)]
    listen: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CARNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if args.hash_password {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        let password = password.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(
            password.chars().count() >= 12,
            "the password needs at least 12 characters"
        );
        println!("{}", carnet_status::admin_ui::hash_password(password)?);
        return Ok(());
    }
    let Some(path) = args.config else {
        anyhow::bail!("--config is required");
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut config = carnet_status::config::Config::from_toml(&text)
        .with_context(|| format!("{} is not a valid configuration", path.display()))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    println!(
        "carnet-status is ready at http://{}/",
        listener.local_addr()?
    );
    carnet_status::serve(config, listener, async {
        // Without a signal handler, run until killed.
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
