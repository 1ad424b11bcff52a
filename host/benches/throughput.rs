//! The throughput benchmark: refunds through `payops serve` side by side
//! with two baselines in one run, against one loopback fake provider.
//!
//! - **B**: a minimal axum → reqwest proxy to the fake;
//! - **B+**: the same plus one SQLite insert per request (WAL,
//!   `synchronous=FULL`, autocommit): the cheapest durable intent;
//! - **payops**: `payops serve` with an EsnekPOS account on the fake
//!   (SQLite, and PostgreSQL when `PAYOPS_TEST_POSTGRES_URL` is set).
//!
//! `cargo bench -p payops-host --bench throughput` (after `cargo build
//! --release --workspace`, so the plugins sit next to the release binary)
//! runs the full measurement; `cargo test` runs it in smoke mode (a few
//! seconds, so it cannot rot). Each server runs in its own process (this
//! binary re-executed with `--role`), so CPU per request is the server's
//! own. See docs/performance.md.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use payops_core::{HttpRequest, HttpTransport};

const TOKEN: &str = "bench-token-0123456789";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        let role = args[i + 1].clone();
        let rest = args[i + 2..].to_vec();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(serve_role(&role, &rest));
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(full));
}

/// One server process this binary plays.
async fn serve_role(role: &str, args: &[String]) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", l.local_addr().expect("addr"));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match role {
        "fake" => {
            let app = axum::Router::new().fallback(post(fake));
            axum::serve(l, app).await.expect("serve");
        }
        "b" | "bplus" => {
            let fake = args[0].clone();
            let db = if role == "bplus" {
                let url = format!("sqlite://{}?mode=rwc", args[1]);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .expect("sqlite");
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await
                    .expect("wal");
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&pool)
                    .await
                    .expect("full");
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS intents (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
                )
                .execute(&pool)
                .await
                .expect("table");
                Some(pool)
            } else {
                None
            };
            let client: Arc<dyn HttpTransport> =
                Arc::new(payops_transport::ReqwestTransport::new().expect("client"));
            let state = Arc::new((client, fake, db, AtomicU64::new(0)));
            let app = axum::Router::new()
                .route("/refund", post(proxy))
                .with_state(state);
            axum::serve(l, app).await.expect("serve");
        }
        other => panic!("unknown role {other}"),
    }
}

type ProxyState = Arc<(
    Arc<dyn HttpTransport>,
    String,
    Option<sqlx::SqlitePool>,
    AtomicU64,
)>;

async fn proxy(State(s): State<ProxyState>, body: Bytes) -> Bytes {
    let (client, fake, db, n) = &*s;
    if let Some(pool) = db {
        let id = n.fetch_add(1, Ordering::Relaxed);
        sqlx::query("INSERT INTO intents (id, body) VALUES ($1, $2)")
            .bind(format!("{}-{id}", std::process::id()))
            .bind(String::from_utf8_lossy(&body).into_owned())
            .execute(pool)
            .await
            .expect("insert");
    }
    let r = client
        .send(HttpRequest::post(
            format!("{fake}/api/services/OrderReturn"),
            "application/json",
            body.to_vec(),
        ))
        .await
        .expect("fake");
    Bytes::from(r.body)
}

/// EsnekPOS's success for any OrderReturn, naming the order it was sent.
async fn fake(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let order = v["ORDER_REF_NUMBER"].as_str().unwrap_or("");
    (
        [("content-type", "application/json")],
        format!(
            r#"{{"RETURN_CODE":"0","RETURN_MESSAGE":"ok","STATUS":"SUCCESS","ORDER_REF_NUMBER":"{order}","REFNO":"R1","TRANSACTION_ID":1}}"#
        ),
    )
}

struct Server {
    name: String,
    child: Child,
    url: String,
    /// The path and body of one request, given a unique number.
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Proxy,
    Payops,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_role(role: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .arg("--role")
        .arg(role)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn role");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("address");
    (child, format!("http://{}", line.trim()))
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `payops serve` on `store`, with an EsnekPOS account on the fake.
fn spawn_payops(dir: &std::path::Path, fake: &str, store: &str) -> (Child, String, Duration) {
    spawn_payops_bin(env!("CARGO_BIN_EXE_payops"), dir, fake, store)
}

/// The same with another `payops` binary (a baseline build, its plugins
/// beside it).
fn spawn_payops_bin(
    bin: &str,
    dir: &std::path::Path,
    fake: &str,
    store: &str,
) -> (Child, String, Duration) {
    let cfg = dir.join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[plugins]
dirs = [{plugins:?}]

[store]
url = "{store}"
reconcile_interval_secs = 0

[log]
level = "warn"

[[tokens]]
name = "bench"
token_sha256 = "{}"
accounts = ["*"]
operations = ["*"]

[accounts.esnek]
provider = "esnekpos"
base_url = "{fake}"
merchant = "M1"
merchant_key = "bench-merchant-key"
sub_merchant_sign = "reduce_is_negative"
"#,
            sha256_hex(TOKEN),
            plugins = plugins_dir(),
        ),
    )
    .expect("config");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args([
            "--config",
            &cfg.display().to_string(),
            "-q",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env_remove("PAYOPS_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("payops");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("listening line");
    let url = line
        .trim()
        .strip_prefix("payops listening on ")
        .unwrap_or_else(|| panic!("payops did not start: {line}"))
        .to_owned();
    (child, url, started.elapsed())
}

/// Where cargo put the provider cdylibs for this build (a plain
/// `cargo test` leaves them in `deps/` only).
fn plugins_dir() -> std::path::PathBuf {
    payops_conformance::built_cdylib("payops_esnekpos")
        .parent()
        .expect("a directory")
        .to_path_buf()
}

/// CPU seconds (user + system) of a process so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The result of one load: requests done, their latencies, errors, CPU.
struct Load {
    ok: usize,
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
    cpu: f64,
}

impl Load {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
    fn cpu_per_req_us(&self) -> f64 {
        self.cpu / self.ok.max(1) as f64 * 1e6
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

async fn load(server: &Server, connections: usize, for_: Duration) -> Load {
    let client: Arc<dyn HttpTransport> =
        Arc::new(payops_transport::ReqwestTransport::new().expect("client"));
    let cpu0 = cpu_secs(server.child.id());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, kind) = (client.clone(), server.url.clone(), server.kind);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0, 0, Vec::new());
            while start.elapsed() < for_ {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let order = format!("B{}-{n}", std::process::id());
                let t = Instant::now();
                let request = match kind {
                    Kind::Proxy => HttpRequest::post(
                        format!("{url}/refund"),
                        "application/json",
                        format!(r#"{{"ORDER_REF_NUMBER":"{order}","AMOUNT":"0,01"}}"#),
                    ),
                    Kind::Payops => HttpRequest::post(
                        format!("{url}/v1/accounts/esnek/operations/refund"),
                        "application/json",
                        format!(r#"{{"order_ref":"{order}","amount":1}}"#),
                    )
                    .with_header("Authorization", format!("Bearer {TOKEN}"))
                    .with_header("Idempotency-Key", format!("k-{order}")),
                };
                match client.send(request).await {
                    Ok(r) if r.is_success() => {
                        let body = String::from_utf8_lossy(&r.body);
                        if body.contains("SUCCESS") || body.contains("\"succeeded\"") {
                            ok += 1;
                            lat.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut out = Load {
        ok: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        cpu: 0.0,
    };
    for t in tasks {
        let (ok, errors, lat) = t.await.expect("task");
        out.ok += ok;
        out.errors += errors;
        out.latencies.extend(lat);
    }
    out.elapsed = start.elapsed();
    out.cpu = cpu_secs(server.child.id()) - cpu0;
    out
}

struct Row {
    name: String,
    p50_1: Duration,
    p99_1: Duration,
    rps_16: f64,
    rps_64: f64,
    cpu_us: f64,
    errors: usize,
}

async fn run(full: bool) {
    let secs = Duration::from_millis(if full { 5000 } else { 700 });
    let dir = std::env::temp_dir().join(format!("payops-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (fake_child, fake) = spawn_role("fake", &[]);
    let _fake = fake_child;
    let mut servers = Vec::new();
    let (c, u) = spawn_role("b", &[&fake]);
    servers.push(Server {
        name: "B".into(),
        child: c,
        url: u,
        kind: Kind::Proxy,
    });
    let bplus_db = dir.join("bplus.db").display().to_string();
    let (c, u) = spawn_role("bplus", &[&fake, &bplus_db]);
    servers.push(Server {
        name: "B+".into(),
        child: c,
        url: u,
        kind: Kind::Proxy,
    });
    let sqlite = format!("sqlite://{}", dir.join("payops.db").display());
    let (c, u, startup) = spawn_payops(&dir, &fake, &sqlite);
    let payops_pid = c.id();
    servers.push(Server {
        name: "payops (SQLite)".into(),
        child: c,
        url: u,
        kind: Kind::Payops,
    });
    let idle_rss = rss_mib(payops_pid);
    if full
        && let Ok(pg) = std::env::var("PAYOPS_TEST_POSTGRES_URL")
        && !pg.is_empty()
    {
        let pg_dir = dir.join("pg");
        std::fs::create_dir_all(&pg_dir).expect("dir");
        let (c, u, _) = spawn_payops(&pg_dir, &fake, &pg);
        servers.push(Server {
            name: "payops (PostgreSQL)".into(),
            child: c,
            url: u,
            kind: Kind::Payops,
        });
    }
    // An earlier build to compare with (PAYOPS_BENCH_BASELINE=path/to/payops).
    if full && let Ok(bin) = std::env::var("PAYOPS_BENCH_BASELINE") {
        let base_dir = dir.join("baseline");
        std::fs::create_dir_all(&base_dir).expect("dir");
        let url = format!("sqlite://{}", base_dir.join("payops.db").display());
        let (c, u, _) = spawn_payops_bin(&bin, &base_dir, &fake, &url);
        servers.push(Server {
            name: "baseline payops (SQLite)".into(),
            child: c,
            url: u,
            kind: Kind::Payops,
        });
        // Its own database: an older build refuses a schema migrated further.
        if let Ok(pg) = std::env::var("PAYOPS_BENCH_BASELINE_PG")
            && !pg.is_empty()
        {
            let pg_dir = dir.join("baseline-pg");
            std::fs::create_dir_all(&pg_dir).expect("dir");
            let (c, u, _) = spawn_payops_bin(&bin, &pg_dir, &fake, &pg);
            servers.push(Server {
                name: "baseline payops (PostgreSQL)".into(),
                child: c,
                url: u,
                kind: Kind::Payops,
            });
        }
    }
    // Warm up every server, then measure them interleaved per setting.
    for s in &servers {
        load(s, 2, Duration::from_millis(200)).await;
    }
    let (c16, c64) = if full { (16, 64) } else { (4, 8) };
    let mut rows: Vec<Row> = servers
        .iter()
        .map(|s| Row {
            name: s.name.clone(),
            p50_1: Duration::ZERO,
            p99_1: Duration::ZERO,
            rps_16: 0.0,
            rps_64: 0.0,
            cpu_us: 0.0,
            errors: 0,
        })
        .collect();
    for (i, s) in servers.iter().enumerate() {
        let l = load(s, 1, secs).await;
        rows[i].p50_1 = l.pct(0.5);
        rows[i].p99_1 = l.pct(0.99);
        rows[i].errors += l.errors;
    }
    for (i, s) in servers.iter().enumerate() {
        let l = load(s, c16, secs).await;
        rows[i].rps_16 = l.rps();
        rows[i].cpu_us = l.cpu_per_req_us();
        rows[i].errors += l.errors;
    }
    for (i, s) in servers.iter().enumerate() {
        let l = load(s, c64, secs).await;
        rows[i].rps_64 = l.rps();
        rows[i].errors += l.errors;
    }
    let loaded_rss = rss_mib(payops_pid);
    println!(
        "\nrefund, {} s per cell, connections 1 / {c16} / {c64}{}",
        secs.as_secs_f64(),
        if full { "" } else { " (smoke mode)" }
    );
    println!(
        "| server | p50 @1 | p99 @1 | req/s @{c16} | req/s @{c64} | CPU/request @{c16} | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.0} | {:.0} | {:.0} µs | {} |",
            r.name,
            r.p50_1.as_secs_f64() * 1e3,
            r.p99_1.as_secs_f64() * 1e3,
            r.rps_16,
            r.rps_64,
            r.cpu_us,
            r.errors
        );
    }
    let (b, bp, p) = (&rows[0], &rows[1], &rows[2]);
    println!(
        "\npayops (SQLite) / B+: p50 {:.2}x, req/s @{c16} {:.2}x, CPU {:.2}x;  payops / B: p50 {:.2}x, req/s {:.2}x",
        p.p50_1.as_secs_f64() / bp.p50_1.as_secs_f64(),
        p.rps_16 / bp.rps_16,
        p.cpu_us / bp.cpu_us,
        p.p50_1.as_secs_f64() / b.p50_1.as_secs_f64(),
        p.rps_16 / b.rps_16,
    );
    println!(
        "payops: startup to listening {:.0} ms, RSS idle {idle_rss:.1} MiB, loaded {loaded_rss:.1} MiB",
        startup.as_secs_f64() * 1e3
    );
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(errors, 0, "every request must succeed");
    assert!(rows.iter().all(|r| r.rps_16 > 0.0), "every server answered");
}
