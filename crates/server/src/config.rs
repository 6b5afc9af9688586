//! Command line and environment. Every flag of `serve` has a `COFFER_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
    about = "A self-hosted secrets manager that speaks the AWS, Alibaba Cloud, Tencent Cloud and Huawei Cloud secrets manager APIs",
    long_about = "coffer keeps secrets encrypted, versioned and staged in an embedded store (or in \
                  PostgreSQL, shared by several coffer nodes), and answers the wire protocol of cloud secrets managers so that their official SDKs \
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
    /// Accounts (tenants): create, list, show, delete. Needs an operator admin key.
    Account {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Access keys of an account: create, list, disable, enable, delete.
    AccessKey {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AccessKeyCommand,
    },
    /// Policies of an account, and which access keys carry them.
    Policy {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The audit log: the latest entries, or a check of the whole hash chain.
    Audit {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Database instances that managed secrets rotate passwords on: add, list, show, remove.
    /// The admin password is stored encrypted under the account's default key.
    DbInstance {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: DbInstanceCommand,
    },
    /// Write a consistent snapshot of the whole store to a file, while servers keep serving it.
    ///
    /// Reads the SQLite database of --data-dir, or the PostgreSQL database of --database-url,
    /// in one snapshot. Values, key material and access key secrets stay sealed exactly as
    /// stored; the root key is never in the file, but authenticates it (a MAC under a key
    /// derived from it), so the root key is needed here and for the restore. Keep the root
    /// key and the audit log yourself: neither is in a backup.
    #[command(after_long_help = BACKUP_HELP)]
    Backup(BackupArgs),
    /// Fill an empty store (a new data dir, or an empty PostgreSQL database) from a backup file.
    ///
    /// The target is a new data dir (SQLite) or an empty PostgreSQL database (--database-url).
    /// The whole file is checked first (format, counts, checksum, MAC under the root key),
    /// then written in one transaction: a failed restore writes nothing. A store that holds
    /// anything is refused.
    #[command(after_long_help = RESTORE_HELP)]
    Restore(RestoreArgs),
    /// Move an installation from SQLite to PostgreSQL, or back.
    ///
    /// A snapshot of the source is streamed into the empty target and written in one
    /// transaction. Stop every server of the source first.
    #[command(after_long_help = MIGRATE_HELP)]
    Migrate(MigrateArgs),
    /// Config files of `coffer serve --config`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operator maintenance of a running server. Needs an operator admin key.
    Admin {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a config file as `coffer serve --config FILE` would read it, without the
    /// environment or other flags: every key must be a flag of serve and every value valid.
    /// Prints the settings it gives and exits 0, or names the bad key and exits 2.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Rewrap every wrapped key while the server keeps serving: a new root key file replaces
    /// the old one (whose key then opens nothing), key material moves under it, and every
    /// secret's data key moves under its key's newest material. Secret values are not
    /// re-encrypted. Shows progress; an interrupted run is resumed by running it again.
    Rewrap {
        /// Keep the root key; only move data keys under their keys' newest material.
        #[arg(long)]
        keep_root_key: bool,
        /// First give every enabled key new material, so that every data key moves.
        #[arg(long)]
        new_key_material: bool,
        /// Start it and return at once (follow it with `coffer admin rewrap-status`).
        #[arg(long)]
        no_wait: bool,
    },
    /// The progress of the running rewrap, or how the last one ended.
    RewrapStatus,
}

/// How admin commands reach the server. Without a key, the bootstrap credentials in
/// `<data-dir>/bootstrap-credentials` are used when that file is readable.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The server's base URL (http:// or https://).
    #[arg(
        long,
        env = "COFFER_ENDPOINT",
        default_value = "http://127.0.0.1:7080",
        global = true
    )]
    pub endpoint: String,
    /// PEM file of the CA certificates to trust for an https endpoint, instead of the public
    /// web roots (for a server with --tls-self-signed: its tls-cert.pem).
    #[arg(long, env = "COFFER_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Access key id to sign with (an admin key).
    #[arg(long, env = "COFFER_ACCESS_KEY_ID", global = true)]
    pub access_key_id: Option<String>,
    /// Its secret.
    #[arg(
        long,
        env = "COFFER_ACCESS_KEY_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub access_key_secret: Option<String>,
    /// Where to look for bootstrap credentials when no key is given.
    #[arg(
        long,
        env = "COFFER_DATA_DIR",
        default_value = "./coffer-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account (and its Huawei project in the server's default region).
    Create {
        /// A label for people; need not be unique.
        name: String,
    },
    /// List every account.
    List,
    /// Show an account with its Huawei project ids.
    Show {
        /// Account id.
        id: String,
    },
    /// Delete an account that holds no secrets and no keys.
    Delete {
        /// Account id.
        id: String,
    },
}

/// Which account and region a database instance belongs to. Both default to the caller's
/// account and the server's default region.
#[derive(Args, Debug, Clone)]
pub struct InstanceScope {
    /// The account id (an operator may name any account; others only their own).
    #[arg(long)]
    pub account: Option<String>,
    /// The coffer region (default: the server's default region).
    #[arg(long)]
    pub region: Option<String>,
}

/// Database engines coffer manages accounts on.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EngineArg {
    /// MariaDB (passwords are sent as native hashes).
    Mariadb,
    /// MySQL.
    Mysql,
    /// PostgreSQL (passwords are sent as SCRAM verifiers).
    Postgres,
}

/// How coffer connects to a database instance (as libpq's sslmode names them).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TlsArg {
    /// TLS with a certificate a trusted CA issued for the host.
    VerifyFull,
    /// TLS with any certificate.
    Require,
    /// No TLS.
    Disable,
}

#[derive(Subcommand, Debug)]
pub enum DbInstanceCommand {
    /// Register a database server. Its id is what requests name as DBInstanceId (Alibaba),
    /// InstanceID (Tencent) or InstanceId (Huawei). The admin login is checked first.
    Add {
        /// The instance id (letters, digits, '-', '_', '.', ':').
        id: String,
        /// The database server's engine.
        #[arg(long, value_enum)]
        engine: EngineArg,
        /// Host name or address coffer connects to (also the host test logins use).
        #[arg(long)]
        host: String,
        /// TCP port (MariaDB/MySQL usually 3306, PostgreSQL 5432).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// An account that may change other accounts' passwords (MariaDB/MySQL: CREATE USER
        /// on *.*; PostgreSQL: superuser or CREATEROLE).
        #[arg(long)]
        admin_user: String,
        /// Its password on the command line, where other users of the machine can see it
        /// (`ps`); prefer --admin-password-file, --admin-password-stdin or the environment.
        #[arg(
            long,
            env = "COFFER_DB_ADMIN_PASSWORD",
            hide_env_values = true,
            conflicts_with_all = ["admin_password_file", "admin_password_stdin"]
        )]
        admin_password: Option<String>,
        /// Read the admin password from this file (one trailing newline is dropped).
        #[arg(long, conflicts_with = "admin_password_stdin")]
        admin_password_file: Option<PathBuf>,
        /// Read the admin password from standard input (one trailing newline is dropped).
        #[arg(long)]
        admin_password_stdin: bool,
        /// How coffer's connections to the database are protected: verify-full (TLS with a
        /// certificate a trusted CA issued for --host), require (TLS, any certificate: safe
        /// from listeners, not from a man in the middle) or disable. Default: verify-full,
        /// except disable for a loopback host (localhost, 127.0.0.0/8, ::1), whose traffic
        /// never leaves the machine.
        #[arg(long, value_enum)]
        tls: Option<TlsArg>,
        /// PEM file of the CA certificates verify-full trusts (default: the public web roots;
        /// MariaDB/MySQL connections trust those as well).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Let coffer send a PostgreSQL password in cleartext when the server asks for it
        /// over a connection that is not verify-full TLS (refused by default: whoever sits
        /// between could ask for it).
        #[arg(long)]
        allow_cleartext_password: bool,
        /// Privileges coffer may give accounts on this instance (comma-separated, e.g.
        /// SELECT,INSERT,UPDATE,DELETE). Default: what an application needs in its own
        /// databases, nothing that administers the server (no ALL PRIVILEGES, GRANT OPTION,
        /// SUPER, CREATE USER, FILE, PROCESS, ...). GLOBAL lets grants reach the server level
        /// (*.*) and the system databases.
        #[arg(long)]
        allowed_privileges: Option<String>,
        /// Register without logging in to the database first.
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        scope: InstanceScope,
    },
    /// List the registered instances.
    List {
        #[command(flatten)]
        scope: InstanceScope,
    },
    /// Show one instance (never its password).
    Show {
        /// The instance id.
        id: String,
        #[command(flatten)]
        scope: InstanceScope,
    },
    /// Remove an instance that no secret uses any more.
    Remove {
        /// The instance id.
        id: String,
        #[command(flatten)]
        scope: InstanceScope,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccessKeyCommand {
    /// Create an access key; its secret is printed once.
    Create {
        /// The account (id) the key belongs to.
        #[arg(long)]
        account: String,
        /// An admin key may do everything in its account that no policy denies.
        #[arg(long)]
        admin: bool,
    },
    /// List an account's access keys with their policies.
    List {
        /// The account id.
        #[arg(long)]
        account: String,
    },
    /// Disable a key: its requests are refused until it is enabled again.
    Disable {
        /// The access key id.
        key: String,
    },
    /// Enable a disabled key.
    Enable {
        /// The access key id.
        key: String,
    },
    /// Delete a key for good.
    Delete {
        /// The access key id.
        key: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Create or replace a policy from a JSON document (a file, or - for standard input).
    Put {
        /// The policy name (letters, digits and _-.+=@).
        name: String,
        /// The account id.
        #[arg(long)]
        account: String,
        /// A file holding the JSON document, or - to read it from standard input.
        #[arg(long)]
        document: String,
    },
    /// Print a policy's document.
    Get {
        /// The policy name (letters, digits and _-.+=@).
        name: String,
        /// The account id.
        #[arg(long)]
        account: String,
    },
    /// List an account's policies.
    List {
        /// The account id.
        #[arg(long)]
        account: String,
    },
    /// Delete a policy (detach it from every key first).
    Delete {
        /// The policy name (letters, digits and _-.+=@).
        name: String,
        /// The account id.
        #[arg(long)]
        account: String,
    },
    /// Attach a policy to an access key of the same account.
    Attach {
        /// The policy name (letters, digits and _-.+=@).
        name: String,
        /// The access key id.
        #[arg(long)]
        access_key: String,
    },
    /// Detach a policy from an access key.
    Detach {
        /// The policy name (letters, digits and _-.+=@).
        name: String,
        /// The access key id.
        #[arg(long)]
        access_key: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the latest entries (from the server).
    Tail {
        /// How many.
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
    },
    /// Check audit logs (offline): every line's MAC under the key derived from the root key,
    /// and the chain; exit 0 only when every log is intact (and, with an anchor, reaches it).
    /// Each node keeps its own log in its data dir: to check a cluster's, give every node's log
    /// and the database, which knows every node's log and how far each must reach.
    Verify {
        #[command(flatten)]
        key: RootKeyArgs,
        /// The logs to check: audit.log files, or data dirs holding one. Default: the data
        /// dir's.
        logs: Vec<PathBuf>,
        /// An anchor kept elsewhere (`SEQ:MAC`, as `coffer audit anchor` prints it): the log
        /// must still hold that line unchanged, which catches lines cut off its end. For one
        /// log only.
        #[arg(long, conflicts_with = "anchor_file")]
        anchor: Option<String>,
        /// A file holding such an anchor.
        #[arg(long)]
        anchor_file: Option<PathBuf>,
        /// The PostgreSQL database the nodes share: every node's log it knows of must be among
        /// the logs given (a log missing is a failure), and each must still hold the last line
        /// its node reported there.
        #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Verify the audit log in a data dir (offline) and print its anchor, `SEQ:MAC` of its
    /// last line, to keep somewhere the server cannot write.
    Anchor {
        #[command(flatten)]
        key: RootKeyArgs,
    },
}

/// The root key, from the same places `serve` reads it: `--root-key-file`, else
/// `COFFER_ROOT_KEY`, else `<data-dir>/root.key` (never created here).
#[derive(Args, Debug)]
pub struct RootKeyArgs {
    /// File holding the root key (base64 or 32 raw bytes).
    #[arg(long, env = "COFFER_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
}

const BACKUP_HELP: &str = "\
Examples:
  coffer backup --out coffer-2025-01-31.backup                       # ./coffer-data, server running or not
  coffer backup --data-dir /var/lib/coffer --out /backups/coffer.backup
  coffer backup --database-url postgres://coffer@db:5432/coffer --root-key-file /etc/coffer/root.key --out coffer.backup

The file is JSON lines: a header (format version, source store and schema, counts), one line
per account, access key, policy, attachment, project, key, event rule, database instance,
secret (with its versions, stages, tags and sealed values) and rotation task, and an end line
with a SHA-256 of everything before it and a MAC under a key derived from the root key.
The root key must open the store's key material (checked for every key), else nothing is
written. It is read like `serve` reads it: --root-key-file, else COFFER_ROOT_KEY, else
<data-dir>/root.key (with <file>.next during an unfinished root key rotation).
A progress bar is drawn when standard error is a terminal.";

const RESTORE_HELP: &str = "\
Examples:
  coffer restore --from coffer.backup --data-dir /var/lib/coffer-new --root-key-file /safe/root.key
  coffer restore --from coffer.backup --database-url postgres://coffer@db:5432/coffer_new --root-key-file /safe/root.key
  coffer restore --from coffer.backup --check-only --root-key-file /safe/root.key

What is not in a backup and must be copied by hand: the root key (give it to the restored
server as <data-dir>/root.key, mode 0600, or with --root-key-file or COFFER_ROOT_KEY; a
server started without it creates a new one and then refuses the store), and the audit log
(<data-dir>/audit.log of each server, with the anchor it logs at shutdown), which stays with
the installation it records. Nothing else is needed: the restored store holds every account,
access key, policy, key, secret and task, and the server's first start finds its admin
account there (no new bootstrap credentials are made).";

const MIGRATE_HELP: &str = "\
Examples:
  coffer migrate --from ./coffer-data --to postgres://coffer@db:5432/coffer
  coffer migrate --from postgres://coffer@db:5432/coffer --to /var/lib/coffer

A source or target that starts with postgres:// or postgresql:// is a PostgreSQL database;
anything else is a data dir (its coffer.db). Stop the source's servers first: a SQLite source
is opened with its lock (refused while a server holds it), and a PostgreSQL source is refused
while other coffer sessions are connected to it. The target must be empty. Nothing is written
unless everything is.

What to copy by hand afterwards: the root key (the same key serves the target: keep
<data-dir>/root.key, or give every node --root-key-file) and the audit log, which stays in each
data dir (a node on PostgreSQL keeps writing <data-dir>/audit.log, so after a move to
PostgreSQL start the node with the same --data-dir and the old log goes on; after a move back,
keep the nodes' logs). The SQLite file of a data dir moved to PostgreSQL is no longer used;
remove it once the new store is checked.";

/// Where `backup` reads the store, and the root key.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The file to write (`-` for standard output). Written beside as <file>.partial (mode
    /// 0600) and renamed when complete, so a file by this name is always a whole backup.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// The data dir: its coffer.db is read (unless --database-url), and its root.key is the
    /// root key unless one is given otherwise.
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
    pub data_dir: PathBuf,
    /// Back up this PostgreSQL database instead of the data dir's SQLite file.
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub key: RootKeyArgs,
}

/// Where `restore` writes, and the root key.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data dir to restore into (created when missing, mode 0700): its coffer.db must not
    /// exist or be empty. Also where the root key is looked for (root.key) unless given.
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
    pub data_dir: PathBuf,
    /// Restore into this PostgreSQL database instead (it must hold no coffer data; its schema
    /// is created).
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Only check the file (format, counts, checksum, MAC) and print what it holds.
    #[arg(long)]
    pub check_only: bool,
    #[command(flatten)]
    pub key: RootKeyArgs,
}

/// What `migrate` moves from and to.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The installation to move: a data dir or a postgres:// URL.
    #[arg(long, value_name = "DATA_DIR_OR_URL")]
    pub from: String,
    /// Where to move it: a postgres:// URL or a data dir (its store must be empty).
    #[arg(long, value_name = "URL_OR_DATA_DIR")]
    pub to: String,
    /// File holding the root key. Without it: COFFER_ROOT_KEY, else root.key of the source's
    /// data dir, else of the target's.
    #[arg(long, env = "COFFER_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// List every account's project ids (reads the store directly: the data dir's database, or
    /// the PostgreSQL database of --database-url; the server may be running).
    List {
        /// The server's data directory.
        #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
        data_dir: PathBuf,
        /// Read the server's PostgreSQL database instead of the data dir.
        #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
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
    /// Directory for the database (unless --database-url), the audit log, the root key
    /// (unless given elsewhere) and the bootstrap credentials. Created when missing.
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
    pub data_dir: PathBuf,

    /// Keep secrets, keys and accounts in this PostgreSQL database instead of the embedded
    /// SQLite file, e.g. postgres://coffer:PASSWORD@db.internal:5432/coffer. Several coffer
    /// nodes may share it; each applies pending schema migrations at start (one at a time).
    /// The audit log and the root key stay in the data dir. Plain TCP only for now (no TLS).
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on.
    #[arg(long, env = "COFFER_LISTEN", default_value = "127.0.0.1:7080")]
    pub listen: SocketAddr,

    /// Also serve /metrics, /healthz and /readyz on this address (plain HTTP), to every
    /// client that reaches it; it opens at the start of start-up, so /readyz there says
    /// "starting" until the API port opens. Without it the three paths are on the API port
    /// only, where /metrics answers loopback clients only (see --metrics-public).
    #[arg(long, env = "COFFER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Let every client read /metrics on the API port, not only loopback ones. The metrics
    /// hold no secret names or values, but they show how busy the server is and how many
    /// secrets and keys it holds.
    #[arg(long, env = "COFFER_METRICS_PUBLIC")]
    pub metrics_public: bool,

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

    /// Seconds a web console session lasts after sign-in (then the browser is sent back to the
    /// sign-in page). Sessions live in this process's memory: a restart ends them all.
    #[arg(long, env = "COFFER_CONSOLE_SESSION_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub console_session_secs: u64,

    /// The origin (`https://host[:port]`) users open the console at when a proxy (TLS
    /// termination, another host name or port) stands between them and this server. Form
    /// posts must then come from this origin rather than from the server's own address, and
    /// an `https` origin makes the session cookie `Secure`. Unset: the server's own address.
    #[arg(long, env = "COFFER_CONSOLE_PUBLIC_ORIGIN", value_parser = coffer_console::session::parse_public_origin)]
    pub console_public_origin: Option<String>,

    /// Seconds between passes of the rotation scheduler, which resumes interrupted or
    /// failed rotations when their retry is due and starts due automatic rotations.
    #[arg(long, env = "COFFER_ROTATION_CHECK_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub rotation_check_secs: u64,

    /// Seconds a background job's lease lasts without renewal (renewed every third of it).
    /// With several nodes on one database, the purge sweep, the rotation scheduler, each
    /// rotation task and a rewrap run on the node holding their lease; when that node dies,
    /// another takes the job over within this time.
    #[arg(long, env = "COFFER_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: u64,

    /// This node's name among the nodes sharing a database (leases, the audit log register);
    /// no two running nodes may share one. Default: the host name, the port and a random
    /// suffix, new at every start.
    #[arg(long, env = "COFFER_NODE_NAME")]
    pub node_name: Option<String>,

    /// Largest request body accepted, in bytes. A larger one gets each API's own error
    /// (Alibaba 413 RequestEntityTooLarge, Tencent RequestSizeLimitExceeded, Huawei 413
    /// APIG.0201).
    #[arg(long, env = "COFFER_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Longest request URI (path and query) accepted, in bytes. A longer one gets each API's
    /// own error. Huawei's and Tencent's gateways document 32 KB, but Alibaba's first SDK
    /// generation puts the whole secret value in the URI, so the default leaves room for a
    /// full 30720-byte value; above 65534 bytes the HTTP layer refuses the URI by itself.
    #[arg(long, env = "COFFER_MAX_URI_BYTES", default_value_t = 61_440, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_534))]
    pub max_uri_bytes: usize,

    /// Most header fields a request may have (a repeated name counts each time). The clouds'
    /// SDKs send about fifteen.
    #[arg(long, env = "COFFER_MAX_HEADERS", default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub max_headers: usize,

    /// Audit entries per second that requests failing before they authenticate may add, per
    /// client address (IPv6: per /64), after a burst of --audit-unauthenticated-burst. Beyond
    /// it they are counted, and a summary entry says how many were not recorded; the same
    /// limit applies to their log lines. Authenticated requests are always recorded. 0 records
    /// every one.
    #[arg(long, env = "COFFER_AUDIT_UNAUTHENTICATED_PER_SEC", default_value_t = 5.0, value_parser = rate_per_sec)]
    pub audit_unauthenticated_per_sec: f64,

    /// See --audit-unauthenticated-per-sec.
    #[arg(long, env = "COFFER_AUDIT_UNAUTHENTICATED_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_unauthenticated_burst: u32,

    /// Most secrets (live or pending deletion) one account may hold in one region, through any
    /// API and in every --limits profile (a ceiling over each API's own quota).
    #[arg(long, env = "COFFER_MAX_SECRETS_PER_REGION", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_secrets_per_region: u64,

    /// Quotas and request rates to start from: default (the protective limits only), cloud
    /// (each cloud's published secrets per region and request rates per account, answered
    /// with each API's own throttling and quota errors) or unlimited (the protective limits
    /// only).
    #[arg(long, env = "COFFER_LIMITS", value_enum, default_value = "default")]
    pub limits: crate::limits::Profile,

    /// Override one limit, NAME=VALUE (repeatable; in COFFER_LIMIT comma-separated):
    /// value-bytes, versions-per-secret, stages-per-secret, tags-per-secret,
    /// secrets-per-region or API.secrets-per-region (a count, or none), API.rate.GROUP or
    /// API.rate.* (COUNT/s, COUNT/min, COUNT/h, or none). API is aws, alibaba, tencent or huawei;
    /// README "Limits and hardening" lists the groups.
    #[arg(
        long = "limit",
        env = "COFFER_LIMIT",
        value_name = "NAME=VALUE",
        value_delimiter = ','
    )]
    pub limit: Vec<String>,

    /// A TOML file of serve's settings: keys are the long flag names (listen = "...",
    /// limits = "cloud", limit = ["tencent.rate.CreateSecret=5/s"] or a [limit] table). A flag
    /// on the command line wins over its COFFER_* variable, which wins over the file.
    #[arg(long, env = "COFFER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Most requests each replay cache remembers at once (Alibaba and Tencent nonces, Tencent
    /// TC3 signatures; each for its signature window). When a cache is full, new requests are
    /// refused with the API's throttling error until older entries expire; none is forgotten
    /// early. Roughly 25 to 60 bytes per entry when full.
    #[arg(long, env = "COFFER_REPLAY_CACHE_ENTRIES", default_value_t = coffer_auth::nonce::DEFAULT_CAPACITY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub replay_cache_entries: usize,

    /// Log line format.
    #[arg(long, env = "COFFER_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Hosts on which accounts other than the operator may register database instances
    /// (comma-separated addresses, address/prefix ranges, host names or *.suffix names, e.g.
    /// 10.0.0.0/8,db.internal). Registering makes the server connect there, so by default
    /// (empty) only the operator registers instances. Names are matched as written, never
    /// resolved.
    #[arg(long, env = "COFFER_DB_HOSTS_ALLOWED", default_value = "")]
    pub db_hosts_allowed: String,

    /// Log filter, e.g. `info` or `coffer=debug` (RUST_LOG syntax).
    #[arg(long, env = "COFFER_LOG", default_value = "info")]
    pub log: String,

    #[command(flatten)]
    pub connections: ConnectionArgs,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// How many connections the server keeps open and how long it waits for each.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Most connections open at once. When they are all open, a new connection closes the
    /// connection that has waited longest without a request being handled (one still sending
    /// its request, or idle between requests); it is refused only when every connection has a
    /// request being handled. Default: the open-file limit (which coffer raises to its hard
    /// limit at start) less what the store, the audit log and database pools need (an eighth
    /// of it, at least 128), at most 8192.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,

    /// Most connections open at once from one client address (IPv6: one /64), with the same
    /// rule as --max-connections when they are all open.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_address: usize,

    /// Seconds a client has to send a whole request head (request line and headers): from
    /// the connection's start (TLS handshake included) for its first request, from the first
    /// byte for the next ones. Fractions allowed.
    #[arg(long, env = "COFFER_HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = parse_secs)]
    pub header_read_timeout_secs: f64,

    /// Seconds a connection may stay open between an answer and the next request (keep-alive).
    #[arg(long, env = "COFFER_IDLE_TIMEOUT_SECS", default_value = "60", value_parser = parse_secs)]
    pub idle_timeout_secs: f64,

    /// Seconds a client has to send a request body once its head has arrived.
    #[arg(long, env = "COFFER_BODY_READ_TIMEOUT_SECS", default_value = "30", value_parser = parse_secs)]
    pub body_read_timeout_secs: f64,
}

/// A positive number of seconds (fractions allowed), at most a day.
fn parse_secs(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400 (e.g. 10 or 0.5)"
        )),
    }
}

/// HTTPS: a certificate from files (reloaded on SIGHUP), or one coffer makes for itself.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM: the server's certificate first, then
    /// the intermediates). Needs --tls-key. Both files are read again on SIGHUP; a pair that
    /// does not load keeps the one in use (the log says why).
    #[arg(long, env = "COFFER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Readable by the server's
    /// user only: a key others may read is refused.
    #[arg(long, env = "COFFER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a self-signed certificate for the listen address, localhost,
    /// 127.0.0.1 and ::1 (and the host name when listening on every address), made in the
    /// data dir (tls-cert.pem, tls-key.pem) on first start and reused afterwards; its SHA-256
    /// fingerprint is logged at every start. Clients trust it with tls-cert.pem as their CA.
    #[arg(long, env = "COFFER_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
}

/// A rate: a finite number, 0 or more.
fn rate_per_sec(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!("{text:?} is not a rate (a number, 0 or more)")),
    }
}
