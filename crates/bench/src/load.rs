//! The load loop: a fixed number of workers, each with one keep-alive HTTP/1.1 connection of
//! its own, sending one signed request at a time for a warm-up and then for the measured
//! duration. Latency is recorded per worker in an HDR histogram (microseconds) and merged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::requests::{Dialect, Op, Signed, Signer};

/// What the workers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// GetSecretValue of a random seeded secret.
    Get,
    /// DescribeSecret of a random seeded secret.
    Describe,
    /// The first page of 100 secrets.
    List,
    /// CreateSecret with a new name each time.
    Create,
    /// PutSecretValue on a random seeded secret.
    Put,
    /// 95% Get, 5% Put.
    Mix,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub signer: Signer,
    pub workload: Workload,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Seeded secrets are `<prefix>000000` ... up to `secrets - 1`.
    pub prefix: String,
    pub secrets: u64,
    /// Send exactly this many requests (all measured, no warm-up, no time limit) instead of
    /// running for `warmup` + `duration`: for profilers, which count per request.
    pub requests: Option<u64>,
    /// Server processes whose CPU time over the measured window is divided by the requests
    /// answered in it (Linux `/proc`); empty to skip.
    pub server_pids: Vec<u32>,
}

/// The figures of one run.
#[derive(Debug)]
pub struct Report {
    pub requests: u64,
    pub errors: u64,
    /// Response body bytes of the measured requests: a ceiling answers with as many.
    pub body_bytes: u64,
    pub seconds: f64,
    pub histogram: Histogram<u64>,
    /// The first failure seen, to say what went wrong.
    pub first_error: Option<String>,
    /// The servers' CPU time (user + system) over the measured window, when their pids were
    /// given.
    pub server_cpu: Option<Duration>,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    /// The servers' CPU time per request answered, in microseconds.
    pub fn server_cpu_us_per_request(&self) -> Option<f64> {
        self.server_cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "server_cpu_us_per_request": self.server_cpu_us_per_request(),
            "requests": self.requests,
            "errors": self.errors,
            "mean_body_bytes": self.body_bytes / self.requests.max(1),
            "seconds": self.seconds,
            "requests_per_second": self.per_second(),
            "p50_ms": self.ms(0.50),
            "p99_ms": self.ms(0.99),
            "p999_ms": self.ms(0.999),
            "first_error": self.first_error,
        })
    }
}

pub fn seeded_name(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:06}")
}

fn next_op(plan: &Plan, rng: &mut impl Rng) -> Op {
    let pick = |rng: &mut dyn rand::RngCore| {
        seeded_name(&plan.prefix, rng.gen_range(0..plan.secrets.max(1)))
    };
    let put = |rng: &mut dyn rand::RngCore| Op::Put {
        name: pick(rng),
        version: uuid::Uuid::new_v4().simple().to_string(),
        value: "bench value after a put".into(),
    };
    match plan.workload {
        Workload::Get => Op::GetValue { name: pick(rng) },
        Workload::Describe => Op::Describe { name: pick(rng) },
        Workload::List => Op::List,
        Workload::Create => Op::Create {
            name: format!("bench-new-{}", uuid::Uuid::new_v4().simple()),
            value: "bench value of a new secret".into(),
        },
        Workload::Put => put(rng),
        Workload::Mix => {
            if rng.gen_range(0..100) < 5 {
                put(rng)
            } else {
                Op::GetValue { name: pick(rng) }
            }
        }
    }
}

/// Whether an answer is a success. Tencent reports errors with HTTP 200 and a
/// `Response.Error` object.
fn succeeded(dialect: Dialect, status: u16, body: &[u8]) -> bool {
    if status != 200 {
        return false;
    }
    if dialect == Dialect::Tencent {
        return serde_json::from_slice::<Value>(body)
            .map(|v| v["Response"].get("Error").is_none())
            .unwrap_or(false);
    }
    true
}

struct Shared {
    /// Requests started, against `Plan::requests`.
    started: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    body_bytes: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

/// Runs the plan against `addrs` (`host:port` each: several nodes serving the same data get
/// the connections in turn, each request signed for the node it goes to) and returns the
/// measured figures of all of them together.
pub async fn run(plan: Plan, addrs: &[String]) -> anyhow::Result<Report> {
    anyhow::ensure!(!addrs.is_empty(), "no target to run against");
    let shared = Arc::new(Shared {
        started: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        body_bytes: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let start = Instant::now();
    let (measure_from, end) = match plan.requests {
        // No warm-up, and no deadline a slow (profiled) server could miss.
        Some(_) => (start, start + Duration::from_secs(365 * 24 * 3600)),
        None => (start + plan.warmup, start + plan.warmup + plan.duration),
    };
    let mut workers = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let addr = &addrs[i % addrs.len()];
        let conn = Conn::open(addr).await?;
        let mut plan = plan.clone();
        plan.signer.host = addr.clone();
        workers.push(tokio::spawn(worker(
            plan,
            conn,
            shared.clone(),
            measure_from,
            end,
        )));
    }
    // The servers' CPU over the measured window: sampled when it opens and when it closes
    // (when the last worker is done, for a fixed count).
    let cpu_from = if plan.server_pids.is_empty() {
        None
    } else {
        tokio::time::sleep_until(measure_from.into()).await;
        Some(crate::cpu::processes_cpu(&plan.server_pids)?)
    };
    if plan.requests.is_none() && cpu_from.is_some() {
        tokio::time::sleep_until(end.into()).await;
    }
    let cpu_at_end = |from: Duration| -> anyhow::Result<Duration> {
        Ok(crate::cpu::processes_cpu(&plan.server_pids)?.saturating_sub(from))
    };
    let mut server_cpu = match (plan.requests, cpu_from) {
        (None, Some(from)) => Some(cpu_at_end(from)?),
        _ => None,
    };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for w in workers {
        histogram.add(w.await??)?;
    }
    if let (Some(_), Some(from)) = (plan.requests, cpu_from) {
        server_cpu = Some(cpu_at_end(from)?);
    }
    let seconds = (Instant::now().min(end) - measure_from)
        .as_secs_f64()
        .max(1e-9);
    let first_error = shared.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Report {
        requests: shared.requests.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        body_bytes: shared.body_bytes.load(Ordering::Relaxed),
        seconds,
        histogram,
        first_error,
        server_cpu,
    })
}

/// One client connection, kept alive while the server keeps it. A server that closes it
/// after an answer (as moto's development server does) gets a new connection before the next
/// request, and the time to open it counts in that request's latency, as it would for a real
/// client.
pub struct Conn {
    addr: String,
    sender: Option<Sender>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

impl Conn {
    /// Opens the connection now, so that an unreachable target fails before any measurement.
    pub async fn open(addr: &str) -> anyhow::Result<Conn> {
        let mut conn = Conn {
            addr: addr.to_string(),
            sender: None,
        };
        conn.sender = Some(conn.connect().await?);
        Ok(conn)
    }

    async fn connect(&self) -> anyhow::Result<Sender> {
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// Sends one signed request and reads the whole answer: its status and body.
    pub async fn send(&mut self, signed: Signed) -> anyhow::Result<(u16, Bytes)> {
        let mut builder = hyper::Request::builder()
            .method(signed.method)
            .uri(&signed.path_and_query);
        for (name, value) in &signed.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Full::new(Bytes::from(signed.body)))?;
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let closing = response.version() < hyper::Version::HTTP_11
            || response
                .headers()
                .get(hyper::header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        if !closing {
            self.sender = Some(sender);
        }
        Ok((status, body))
    }
}

async fn worker(
    plan: Plan,
    mut conn: Conn,
    shared: Arc<Shared>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut rng = rand::rngs::StdRng::from_entropy();
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(histogram);
        }
        if let Some(limit) = plan.requests {
            if shared.started.fetch_add(1, Ordering::Relaxed) >= limit {
                return Ok(histogram);
            }
        }
        let op = next_op(&plan, &mut rng);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let nonce = uuid::Uuid::new_v4().to_string();
        let signed = plan.signer.sign(&op, unix, &nonce)?;
        let sent = Instant::now();
        let (status, body) = conn.send(signed).await?;
        let done = Instant::now();
        if sent < measure_from || done > end {
            continue;
        }
        shared.requests.fetch_add(1, Ordering::Relaxed);
        shared
            .body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if !succeeded(plan.signer.dialect, status, &body) {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = shared.first_error.lock() {
                if first.is_none() {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    *first = Some(format!("{op:?}: HTTP {status}: {text}"));
                }
            }
        }
        histogram.record((done - sent).as_micros().max(1) as u64)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers one request per connection and closes it, as moto does.
    async fn one_answer_per_connection() -> (String, Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                let mut buf = vec![0u8; 4096];
                // The requests here are small: one read holds the whole of one.
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn a_connection_the_server_closes_is_opened_again() {
        let (addr, accepted) = one_answer_per_connection().await;
        let mut conn = Conn::open(&addr).await.expect("open");
        for _ in 0..3 {
            let signed = Signed {
                method: "GET",
                path_and_query: "/".into(),
                headers: vec![("host".into(), addr.clone())],
                body: vec![],
            };
            let (status, body) = conn.send(signed).await.expect("send");
            assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        }
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            3,
            "one connection per answer"
        );
    }

    #[tokio::test]
    async fn an_unreachable_target_fails_before_measuring() {
        // A port nothing listens on: bind one, learn it, close it.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let err = Conn::open(&addr).await.err().expect("nothing listens");
        assert!(err.to_string().contains("connecting to"), "{err}");
    }

    #[test]
    fn tencent_errors_come_with_http_200() {
        assert!(succeeded(
            Dialect::Tencent,
            200,
            br#"{"Response":{"RequestId":"x"}}"#
        ));
        assert!(!succeeded(
            Dialect::Tencent,
            200,
            br#"{"Response":{"Error":{"Code":"X"}}}"#
        ));
        assert!(!succeeded(Dialect::Huawei, 404, b"{}"));
        assert!(succeeded(Dialect::Huawei, 200, b"{}"));
    }

    #[test]
    fn the_mix_is_mostly_reads() {
        let plan = Plan {
            signer: Signer {
                dialect: Dialect::AlibabaAcs3,
                host: "h".into(),
                access_key_id: "a".into(),
                access_key_secret: "s".into(),
                region: "r".into(),
                project_id: None,
            },
            workload: Workload::Mix,
            connections: 1,
            warmup: Duration::ZERO,
            duration: Duration::ZERO,
            prefix: "bench-".into(),
            secrets: 10,
            requests: None,
            server_pids: Vec::new(),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let puts = (0..10_000)
            .filter(|_| matches!(next_op(&plan, &mut rng), Op::Put { .. }))
            .count();
        assert!((350..650).contains(&puts), "{puts} puts in 10000");
    }
}
