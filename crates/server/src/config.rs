//! Command line and environment. Every flag of `serve` has a `COFFER_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
    about = "A self-hosted secrets manager that speaks the Alibaba Cloud KMS Secrets Manager API",
    long_about = "coffer keeps secrets encrypted, versioned and staged in an embedded store, and \
                  answers the wire protocol of cloud secrets managers so that their official SDKs \
                  work against it after an endpoint and key change."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Huawei project ids: each account has one 32-hex project id per region.
    #[command(subcommand)]
    Project(ProjectCommand),
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// List every account's project ids (reads the data dir; the server may be running).
    List {
        /// The server's data directory.
        #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
        data_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory for the database, the root key (unless given elsewhere) and the bootstrap
    /// credentials. Created when missing.
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, env = "COFFER_LISTEN", default_value = "127.0.0.1:7080")]
    pub listen: SocketAddr,

    /// File holding the 256-bit root key (base64 or 32 raw bytes). Without it, the key comes
    /// from COFFER_ROOT_KEY, else from <data-dir>/root.key, created on first start.
    #[arg(long, env = "COFFER_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,

    /// Region mapping NAME=ID,ID,... (repeatable): requests naming one of the cloud region ids
    /// use the coffer region NAME. Ids not mapped use the default region.
    #[arg(long = "region", env = "COFFER_REGIONS", value_delimiter = ';')]
    pub regions: Vec<String>,

    /// Name of the coffer region that unmapped region ids use.
    #[arg(long, env = "COFFER_DEFAULT_REGION", default_value = "default")]
    pub default_region: String,

    /// Seconds between sweeps that purge secrets whose recovery window has ended.
    #[arg(long, env = "COFFER_PURGE_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub purge_interval_secs: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "COFFER_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Most secrets (live or pending deletion) one account may hold in one region.
    #[arg(long, env = "COFFER_MAX_SECRETS_PER_REGION", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_secrets_per_region: u64,

    /// Log line format.
    #[arg(long, env = "COFFER_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `coffer=debug` (RUST_LOG syntax).
    #[arg(long, env = "COFFER_LOG", default_value = "info")]
    pub log: String,
}
