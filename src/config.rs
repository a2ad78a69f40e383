//! Node configuration: `reckon.toml`, then `RECKON_*` environment variables,
//! then command-line flags, each overriding the one before. The defaults are
//! the embedded single-node setup: `sqlite://reckon.db`, reports under
//! `./reports`, jobs in `./jobs` — no server needed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::RunnerConfig;

/// The default configuration file, read when present.
pub const DEFAULT_CONFIG_FILE: &str = "reckon.toml";

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{source_name}: `{value}` is not valid for `{field}`: {reason}")]
    Value {
        source_name: String,
        field: &'static str,
        value: String,
        reason: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything a node needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub reports_dir: PathBuf,
    pub jobs_dir: PathBuf,
    /// Base directory for relative input paths in job parameters.
    pub data_dir: PathBuf,
    pub instance_id: String,
    pub runner: RunnerConfig,
    /// How long running shards may finish after SIGTERM before they are cancelled.
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// Start CSV reports with a UTF-8 BOM for Excel.
    pub excel_bom: bool,
    /// Write `report.xlsx` beside every run's CSV reports.
    pub reports_xlsx: bool,
    /// Cluster mode: `zk://host:port[,host:port…]/namespace`; `None` = embedded single node.
    pub registry: Option<String>,
    /// ZooKeeper session timeout in cluster mode.
    pub session_timeout: Duration,
    /// `reckon serve` serves the console and `/metrics` here (`http_addr`,
    /// `RECKON_HTTP_ADDR`, `--http`); `None` = no HTTP server.
    pub http_addr: Option<std::net::SocketAddr>,
    /// The `[console]` table: operators, read-only access, session key.
    pub console: crate::console::ConsoleSettings,
    /// The `[alerts]` table: webhook targets.
    pub alerts: crate::alerts::AlertSettings,
}

/// Values given on the command line, which win over file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub jobs_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub registry: Option<String>,
    pub instance_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    reports_dir: Option<PathBuf>,
    jobs_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    instance_id: Option<String>,
    parallel_shards_max: Option<usize>,
    run_lease: Option<String>,
    heartbeat_interval: Option<String>,
    shutdown_grace: Option<String>,
    log_format: Option<String>,
    excel_bom: Option<bool>,
    reports_xlsx: Option<bool>,
    registry: Option<String>,
    session_timeout: Option<String>,
    http_addr: Option<String>,
    #[serde(default)]
    console: crate::console::ConsoleSettings,
    #[serde(default)]
    alerts: crate::alerts::AlertSettings,
}

impl Config {
    /// Loads the configuration; `env` looks up environment variables.
    pub fn load(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = read_file(overrides.config_file.as_deref())?;
        let mut config = Config::defaults();
        config.apply_file(file, overrides.config_file.as_deref())?;
        config.apply_env(env)?;
        if let Some(url) = &overrides.database_url {
            config.database_url = url.clone();
        }
        if let Some(dir) = &overrides.jobs_dir {
            config.jobs_dir = dir.clone();
        }
        if let Some(format) = overrides.log_format {
            config.log_format = format;
        }
        if let Some(registry) = &overrides.registry {
            config.registry = Some(registry.clone());
        }
        if let Some(id) = &overrides.instance_id {
            config.instance_id = id.clone();
        }
        Ok(config)
    }

    /// The embedded single-node defaults.
    pub fn defaults() -> Config {
        Config {
            database_url: "sqlite://reckon.db".into(),
            reports_dir: "reports".into(),
            jobs_dir: "jobs".into(),
            data_dir: ".".into(),
            instance_id: default_instance_id(),
            runner: RunnerConfig::default(),
            shutdown_grace: Duration::from_secs(30),
            log_format: LogFormat::Text,
            excel_bom: false,
            reports_xlsx: false,
            registry: None,
            session_timeout: crate::coord::zookeeper::SESSION_TIMEOUT_DEFAULT,
            http_addr: None,
            console: crate::console::ConsoleSettings::default(),
            alerts: crate::alerts::AlertSettings::default(),
        }
    }

    fn apply_file(&mut self, file: FileConfig, path: Option<&Path>) -> Result<(), ConfigError> {
        let source = path.map_or(DEFAULT_CONFIG_FILE.to_string(), |p| p.display().to_string());
        set(&mut self.database_url, file.database_url);
        set(&mut self.reports_dir, file.reports_dir);
        set(&mut self.jobs_dir, file.jobs_dir);
        set(&mut self.data_dir, file.data_dir);
        set(&mut self.instance_id, file.instance_id);
        set(
            &mut self.runner.parallel_shards_max,
            file.parallel_shards_max,
        );
        set(&mut self.excel_bom, file.excel_bom);
        set(&mut self.reports_xlsx, file.reports_xlsx);
        if file.registry.is_some() {
            self.registry = file.registry;
        }
        if let Some(addr) = file.http_addr {
            self.http_addr = Some(socket_addr(&source, &addr)?);
        }
        self.console = file.console;
        self.alerts = file.alerts;
        let fields = [
            ("run_lease", file.run_lease, &mut self.runner.run_lease),
            (
                "heartbeat_interval",
                file.heartbeat_interval,
                &mut self.runner.heartbeat_interval,
            ),
            (
                "shutdown_grace",
                file.shutdown_grace,
                &mut self.shutdown_grace,
            ),
            (
                "session_timeout",
                file.session_timeout,
                &mut self.session_timeout,
            ),
        ];
        for (field, value, target) in fields {
            if let Some(value) = value {
                *target = duration(&source, field, &value)?;
            }
        }
        if let Some(format) = file.log_format {
            self.log_format = log_format(&source, &format)?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set(&mut self.database_url, env("RECKON_DATABASE_URL"));
        set(
            &mut self.reports_dir,
            env("RECKON_REPORTS_DIR").map(PathBuf::from),
        );
        set(
            &mut self.jobs_dir,
            env("RECKON_JOBS_DIR").map(PathBuf::from),
        );
        set(
            &mut self.data_dir,
            env("RECKON_DATA_DIR").map(PathBuf::from),
        );
        set(&mut self.instance_id, env("RECKON_INSTANCE_ID"));
        if let Some(value) = env("RECKON_PARALLEL_SHARDS_MAX") {
            self.runner.parallel_shards_max =
                value
                    .parse()
                    .map_err(|e: std::num::ParseIntError| ConfigError::Value {
                        source_name: "RECKON_PARALLEL_SHARDS_MAX".into(),
                        field: "parallel_shards_max",
                        value: value.clone(),
                        reason: e.to_string(),
                    })?;
        }
        if let Some(value) = env("RECKON_REGISTRY") {
            self.registry = Some(value);
        }
        if let Some(value) = env("RECKON_SESSION_TIMEOUT") {
            self.session_timeout = duration("RECKON_SESSION_TIMEOUT", "session_timeout", &value)?;
        }
        if let Some(value) = env("RECKON_HTTP_ADDR") {
            self.http_addr = Some(socket_addr("RECKON_HTTP_ADDR", &value)?);
        }
        if let Some(value) = env("RECKON_LOG_FORMAT") {
            self.log_format = log_format("RECKON_LOG_FORMAT", &value)?;
        }
        if let Some(value) = env("RECKON_EXCEL_BOM") {
            self.excel_bom = matches!(value.as_str(), "1" | "true" | "yes");
        }
        if let Some(value) = env("RECKON_REPORTS_XLSX") {
            self.reports_xlsx = matches!(value.as_str(), "1" | "true" | "yes");
        }
        Ok(())
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

fn read_file(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => PathBuf::from(DEFAULT_CONFIG_FILE),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path,
        message: e.to_string(),
    })
}

fn duration(source: &str, field: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| ConfigError::Value {
        source_name: source.to_string(),
        field,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// An HTTP listen address `IP:PORT` (`127.0.0.1:8080`; no host names, so
/// what is bound is what is written).
pub fn socket_addr(source: &str, value: &str) -> Result<std::net::SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Value {
        source_name: source.to_string(),
        field: "http_addr",
        value: value.to_string(),
        reason: "use IP:PORT, e.g. 127.0.0.1:8080".into(),
    })
}

fn log_format(source: &str, value: &str) -> Result<LogFormat, ConfigError> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(ConfigError::Value {
            source_name: source.to_string(),
            field: "log_format",
            value: other.to_string(),
            reason: "use text or json".into(),
        }),
    }
}

/// `host-pid`, unique enough among the nodes of one cluster.
fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reckon.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://file.db\"\nreports_dir = \"out\"\nrun_lease = \"2m\"\n",
        )
        .unwrap();
        let env = |key: &str| (key == "RECKON_REPORTS_DIR").then(|| "env-out".to_string());
        let overrides = Overrides {
            config_file: Some(path),
            database_url: Some("postgres://flag/db".into()),
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &env).unwrap();
        assert_eq!(config.database_url, "postgres://flag/db");
        assert_eq!(config.reports_dir, PathBuf::from("env-out"));
        assert_eq!(config.runner.run_lease, Duration::from_secs(120));
    }

    #[test]
    fn cluster_settings_from_file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reckon.toml");
        std::fs::write(
            &path,
            "registry = \"zk://a:2181/file\"\nsession_timeout = \"4s\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &|_| None).unwrap();
        assert_eq!(config.registry.as_deref(), Some("zk://a:2181/file"));
        assert_eq!(config.session_timeout, Duration::from_secs(4));
        let env = |key: &str| match key {
            "RECKON_REGISTRY" => Some("zk://b:2181/env".to_string()),
            "RECKON_SESSION_TIMEOUT" => Some("1500ms".to_string()),
            _ => None,
        };
        let config = Config::load(&overrides, &env).unwrap();
        assert_eq!(config.registry.as_deref(), Some("zk://b:2181/env"));
        assert_eq!(config.session_timeout, Duration::from_millis(1500));
        let flags = Overrides {
            config_file: Some(path),
            registry: Some("zk://c:2181/flag".into()),
            instance_id: Some("node-a".into()),
            ..Overrides::default()
        };
        let config = Config::load(&flags, &env).unwrap();
        assert_eq!(config.registry.as_deref(), Some("zk://c:2181/flag"));
        assert_eq!(config.instance_id, "node-a");
        assert_eq!(Config::defaults().registry, None, "embedded by default");
    }

    #[test]
    fn console_and_alert_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reckon.toml");
        std::fs::write(
            &path,
            "http_addr = \"127.0.0.1:8080\"\n[console]\nread_only_open = true\n\
             [[console.operators]]\nname = \"alice\"\ntoken_sha256 = \"00\"\n\
             [[alerts.webhooks]]\nname = \"d\"\nformat = \"dingtalk\"\nurl = \"http://x/robot\"\nsecret = \"SEC1\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &|_| None).unwrap();
        assert_eq!(config.http_addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert!(config.console.read_only_open);
        assert_eq!(config.console.operators[0].name, "alice");
        assert!(
            config.console.validate().is_err(),
            "a token digest is 64 hex digits"
        );
        assert_eq!(config.alerts.webhooks[0].secret.as_deref(), Some("SEC1"));
        let env = |key: &str| (key == "RECKON_HTTP_ADDR").then(|| "0.0.0.0:9090".to_string());
        let config = Config::load(&overrides, &env).unwrap();
        assert_eq!(config.http_addr, Some("0.0.0.0:9090".parse().unwrap()));
        let bad = |key: &str| (key == "RECKON_HTTP_ADDR").then(|| "localhost:80".to_string());
        let err = Config::load(&overrides, &bad).unwrap_err().to_string();
        assert!(
            err.contains("http_addr") && err.contains("IP:PORT"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reckon.toml");
        std::fs::write(&path, "run_lease = \"soon\"\n").unwrap();
        let overrides = Overrides {
            config_file: Some(path),
            ..Overrides::default()
        };
        let err = Config::load(&overrides, &|_| None).unwrap_err().to_string();
        assert!(err.contains("run_lease") && err.contains("soon"), "{err}");
        std::fs::write(dir.path().join("x.toml"), "databse_url = \"x\"\n").unwrap();
        let overrides = Overrides {
            config_file: Some(dir.path().join("x.toml")),
            ..Overrides::default()
        };
        let err = Config::load(&overrides, &|_| None).unwrap_err().to_string();
        assert!(err.contains("databse_url"), "{err}");
    }
}
