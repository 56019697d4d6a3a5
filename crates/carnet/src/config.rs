//! Settings: defaults < TOML file < `CARNET_*` environment < command-line flags.

use crate::cli::GlobalArgs;
use carnet_store::DbLocation;
use serde::Deserialize;
use std::path::PathBuf;

/// Every setting. Unknown keys in the file or the environment are errors naming the key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SQLite data directory, used when no database URL is given.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://PATH`.
    pub database_url: Option<String>,
    /// Where `carnet serve` listens.
    pub listen: String,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log: String,
    /// Start in read-only mode.
    pub read_only: bool,
    /// PEM certificate chain: serve HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("carnet-data"),
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            log: "info,sqlx=warn,tower_http=warn".into(),
            read_only: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(|_| "***"))
            .field("listen", &self.listen)
            .field("log", &self.log)
            .field("read_only", &self.read_only)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

/// The environment variables Carnet reads (`CARNET_TEST_*` belong to the test suite).
const ENV_KEYS: [&str; 7] = [
    "data_dir",
    "database_url",
    "listen",
    "log",
    "read_only",
    "tls_cert",
    "tls_key",
];

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {1}", path = .0.display())]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file {path}: {1}", path = .0.display())]
    Parse(PathBuf, String),
    #[error("unknown environment variable {0}; Carnet reads {keys}", keys = known_env())]
    UnknownEnv(String),
    #[error("invalid {0}: {1}")]
    BadEnv(String, String),
}

fn known_env() -> String {
    ENV_KEYS
        .map(|k| format!("CARNET_{}", k.to_uppercase()))
        .join(", ")
}

impl Config {
    pub fn load(args: &GlobalArgs) -> Result<Config, ConfigError> {
        let mut config = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.clone(), e))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse(path.clone(), e.message().to_owned()))?
            }
            None => Config::default(),
        };
        config.apply_env(std::env::vars())?;
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &args.database_url {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }

    fn apply_env(
        &mut self,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("CARNET_") else {
                continue;
            };
            if key.starts_with("TEST_") {
                continue;
            }
            match key.to_lowercase().as_str() {
                "data_dir" => self.data_dir = PathBuf::from(value),
                "database_url" => self.database_url = Some(value),
                "listen" => self.listen = value,
                "log" => self.log = value,
                "tls_cert" => self.tls_cert = Some(PathBuf::from(value)),
                "tls_key" => self.tls_key = Some(PathBuf::from(value)),
                "read_only" => {
                    self.read_only = match value.as_str() {
                        "1" | "true" => true,
                        "0" | "false" | "" => false,
                        _ => {
                            return Err(ConfigError::BadEnv(name, "expected true or false".into()));
                        }
                    }
                }
                _ => return Err(ConfigError::UnknownEnv(name)),
            }
        }
        Ok(())
    }

    pub fn location(&self) -> DbLocation {
        match &self.database_url {
            Some(url) => DbLocation::Url(url.clone()),
            None => DbLocation::DataDir(self.data_dir.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_file_keys_are_named() {
        let err = toml::from_str::<Config>("listen = \"0.0.0.0:1\"\nlisten_port = 3").unwrap_err();
        assert!(err.message().contains("listen_port"), "{}", err.message());
        let ok: Config = toml::from_str("read_only = true").unwrap();
        assert!(ok.read_only);
        assert_eq!(ok.listen, "127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_and_refuses_unknown_keys() {
        let mut c = Config::default();
        let vars = [
            ("CARNET_LISTEN", "0.0.0.0:9"),
            ("CARNET_TEST_PG_URL", "x"),
            ("PATH", "/bin"),
        ];
        c.apply_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9");
        let err = c
            .apply_env([("CARNET_LISTN".to_string(), "x".to_string())].into_iter())
            .unwrap_err();
        assert!(err.to_string().contains("CARNET_LISTN"));
        assert!(
            format!(
                "{:?}",
                Config {
                    database_url: Some("postgres://u:pw@h/d".into()),
                    ..c
                }
            )
            .contains("***")
        );
    }
}
