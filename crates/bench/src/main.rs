//! `coffer-bench`: drives coffer (or a peer) with requests signed as the real SDKs sign them,
//! and serves the HTTP ceiling to compare against.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use coffer_bench::load::{self, Plan, Workload};
use coffer_bench::requests::{Dialect, Op, Signer};
use coffer_bench::seed;

/// The same allocator as the server, so the generator does not take more of the shared CPU
/// than it must.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "coffer-bench",
    version,
    about = "Load generator and HTTP ceiling for coffer's benchmarks."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one workload against one target (or several nodes of one store, `--target a,b`)
    /// and print its figures (a table line, or JSON).
    Run(RunArgs),
    /// Create the secrets the read workloads pick from, through the API (`<prefix>000000`...).
    Populate(PopulateArgs),
    /// Fill a stopped server's data dir with many secrets (versions and tags included),
    /// straight through the core service: how the million-secret figures are set up.
    /// SQLite only: it cannot fill a server's PostgreSQL database (`--database-url`); use
    /// `populate` through the API for that.
    Seed(seed::SeedArgs),
    /// Print a wrk Lua script that replays one signed request (GetSecretValue of the first
    /// seeded secret by default) on every connection, and prints wrk's figures as one JSON
    /// line when done: a generator leaner than `run`, for dialects whose signature carries no
    /// nonce (Huawei; the server accepts such a request again within its clock window).
    WrkScript(WrkScriptArgs),
    /// The ceiling: the smallest HTTP server answering a fixed body, on the same runtime
    /// settings as coffer.
    Ceiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7090")]
        listen: String,
        /// Size of the fixed answer in bytes (match the real answer's size).
        #[arg(long, default_value_t = 256)]
        body_bytes: usize,
    },
}

#[derive(Args, Debug, Clone)]
struct Target {
    /// `host:port` of the server (`run` takes several, comma-separated: nodes of one store).
    #[arg(long, default_value = "127.0.0.1:7080")]
    target: String,
    /// Protocol and signature scheme.
    #[arg(long, value_enum)]
    dialect: Dialect,
    #[arg(long, env = "COFFER_BENCH_ACCESS_KEY_ID")]
    access_key_id: String,
    #[arg(long, env = "COFFER_BENCH_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: String,
    /// The region the SDK would be set to.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
    /// Huawei project id (Huawei only).
    #[arg(long)]
    huawei_project: Option<String>,
    /// Names of the seeded secrets start with this.
    #[arg(long, default_value = "bench-")]
    prefix: String,
    /// How many seeded secrets there are.
    #[arg(long, default_value_t = 1000)]
    secrets: u64,
}

impl Target {
    fn signer(&self) -> Signer {
        Signer {
            dialect: self.dialect,
            host: self.target.clone(),
            access_key_id: self.access_key_id.clone(),
            access_key_secret: self.access_key_secret.clone(),
            region: self.region.clone(),
            project_id: self.huawei_project.clone(),
        }
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, value_enum, default_value = "get")]
    workload: Workload,
    /// Concurrent keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of warm-up, not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Print JSON instead of a table line.
    #[arg(long)]
    json: bool,
    /// A label for the table line.
    #[arg(long, default_value = "")]
    label: String,
    /// Send exactly this many requests (all measured; `--warmup` and `--duration` are not
    /// used): for instruction counts per request under a profiler.
    #[arg(long)]
    requests: Option<u64>,
    /// The pids of the server processes (comma-separated): their CPU time (user + system,
    /// from /proc) over the measured window divided by the requests answered is reported.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
}

#[derive(Args, Debug)]
struct WrkScriptArgs {
    #[command(flatten)]
    target: Target,
    /// The seeded secret to read (`<prefix>000000` when not given).
    #[arg(long)]
    secret_name: Option<String>,
}

#[derive(Args, Debug)]
struct PopulateArgs {
    #[command(flatten)]
    target: Target,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Run(args) => rt.block_on(run(args)),
        Command::Populate(args) => rt.block_on(populate(args)),
        Command::Seed(args) => rt.block_on(seed::seed(args)),
        Command::WrkScript(args) => wrk_script(args),
        Command::Ceiling { listen, body_bytes } => rt.block_on(ceiling(listen, body_bytes)),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = Plan {
        signer: args.target.signer(),
        workload: args.workload,
        connections: args.connections.max(1),
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        prefix: args.target.prefix.clone(),
        secrets: args.target.secrets,
        requests: args.requests,
        server_pids: args.server_pid.clone(),
    };
    // Several nodes serving one store: `--target host:port,host:port`, connections in turn.
    let targets: Vec<String> = args
        .target
        .target
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let report = load::run(plan, &targets).await?;
    if args.json {
        let mut v = report.to_json();
        v["label"] = args.label.clone().into();
        v["workload"] = format!("{:?}", args.workload).to_lowercase().into();
        v["dialect"] = format!("{:?}", args.target.dialect).into();
        v["connections"] = args.connections.into();
        println!("{v}");
    } else {
        let cpu = report
            .server_cpu_us_per_request()
            .map(|us| format!("  server CPU {us:.1} us/req"))
            .unwrap_or_default();
        println!(
            "{:<28} {:>10.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {}{cpu}",
            if args.label.is_empty() {
                format!("{:?}/{:?}", args.target.dialect, args.workload)
            } else {
                args.label.clone()
            },
            report.per_second(),
            report.ms(0.50),
            report.ms(0.99),
            report.ms(0.999),
            report.errors
        );
    }
    if report.errors > 0 {
        anyhow::bail!(
            "{} of {} requests failed (a run with errors is a failed run); first: {}",
            report.errors,
            report.requests,
            report.first_error.unwrap_or_default()
        );
    }
    Ok(())
}

/// Creates `<prefix>000000` .. through the API, `connections` at a time; an existing name is
/// not an error, so a populate can be run again.
async fn populate(args: PopulateArgs) -> anyhow::Result<()> {
    let signer = args.target.signer();
    let total = args.target.secrets;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (signer, next, addr, prefix) = (
            signer.clone(),
            next.clone(),
            args.target.target.clone(),
            args.target.prefix.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = load::Conn::open(&addr).await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let op = Op::Create {
                    name: load::seeded_name(&prefix, i),
                    value: format!("bench value {i}"),
                };
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs() as i64;
                let signed = signer.sign(&op, unix, &uuid::Uuid::new_v4().to_string())?;
                let (status, body) = conn.send(signed).await?;
                let text = String::from_utf8_lossy(&body);
                let exists = text.contains("AlreadyExists")
                    || text.contains("ResourceInUse")
                    || text.contains("CSMS.0104")
                    || text.contains("ResourceExistsException");
                if (status != 200 || text.contains("\"Error\"")) && !exists {
                    anyhow::bail!("creating {op:?}: HTTP {status}: {text}");
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!("populated {total} secrets");
    Ok(())
}

/// A wrk script replaying one signed GetSecretValue; see [`Command::WrkScript`].
fn wrk_script(args: WrkScriptArgs) -> anyhow::Result<()> {
    let signer = args.target.signer();
    let name = args
        .secret_name
        .unwrap_or_else(|| load::seeded_name(&args.target.prefix, 0));
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let signed = signer.sign(
        &Op::GetValue { name },
        unix,
        &uuid::Uuid::new_v4().to_string(),
    )?;
    print!("{}", coffer_bench::requests::wrk_lua(&signed));
    Ok(())
}

/// Answers every request with the same JSON body of `body_bytes` bytes.
async fn ceiling(listen: String, body_bytes: usize) -> anyhow::Result<()> {
    let mut body = String::from("{\"RequestId\":\"");
    while body.len() + 2 < body_bytes {
        body.push('x');
    }
    body.push_str("\"}");
    let body = bytes::Bytes::from(body);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!("ceiling listening on {listen}");
    axum::serve(listener, app).await.context("serving")
}
