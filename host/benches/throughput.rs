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
    child: Reaped,
    url: String,
    /// The path and body of one request, given a unique number.
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Proxy,
    Payops,
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// `payops serve` on `store`, with an EsnekPOS account on the fake.
fn spawn_payops(dir: &std::path::Path, fake: &str, store: &str) -> (Child, String, Duration) {
    spawn_payops_bin(env!("CARGO_BIN_EXE_payops"), dir, fake, store, None)
}

/// The benchmark's config for `payops serve` on `store`: only keys every
/// build since 0.1.0 reads, so an old baseline build takes it too. The
/// plugins: this build's (a baseline loads its own, beside its binary).
fn bench_config(
    dir: &std::path::Path,
    fake: &str,
    store: &str,
    own_plugins: bool,
    info: bool,
) -> String {
    let log = if info {
        "level = \"info\"\nformat = \"json\""
    } else {
        "level = \"warn\""
    };
    let plugins = if own_plugins {
        format!("[plugins]\ndirs = [{:?}]\n", plugins_dir())
    } else {
        String::new()
    };
    let cfg = dir.join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{plugins}
[store]
url = "{store}"
reconcile_interval_secs = 0

[log]
{log}

[[tokens]]
name = "bench"
token_sha256 = "{}"
accounts = ["*"]
operations = ["*"]

# The refund path itself: the order guard's query of each new order would
# be a provider call of its own (the fake answers only refunds).
[accounts.esnek]
provider = "esnekpos"
base_url = "{fake}"
merchant = "M1"
merchant_key = "bench-merchant-key"
order_query = false

# The account the store-size runs list (their operations are inserted
# directly, spread over accounts a0..a6).
[accounts.a3]
provider = "esnekpos"
base_url = "{fake}"
merchant = "M3"
merchant_key = "bench-merchant-key"
order_query = false
"#,
            sha256_hex(TOKEN),
        ),
    )
    .expect("config");
    cfg.display().to_string()
}

/// The same with another `payops` binary (a baseline build, its plugins
/// beside it); with `info_log`, at `info` writing JSON lines to that file
/// (as an operator runs it), else at `warn`.
fn spawn_payops_bin(
    bin: &str,
    dir: &std::path::Path,
    fake: &str,
    store: &str,
    info_log: Option<&std::path::Path>,
) -> (Child, String, Duration) {
    let own = bin == env!("CARGO_BIN_EXE_payops");
    let cfg = bench_config(dir, fake, store, own, info_log.is_some());
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    match info_log {
        Some(file) => cmd
            .args(["--config", &cfg, "serve", "--listen", "127.0.0.1:0"])
            .stderr(std::fs::File::create(file).expect("log file")),
        None => cmd
            .args(["--config", &cfg, "-q", "serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::inherit()),
    };
    let mut child = cmd
        .current_dir(dir)
        .env_remove("PAYOPS_LOG")
        .stdout(Stdio::piped())
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
    let cpu0 = cpu_secs(server.child.0.id());
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
    out.cpu = cpu_secs(server.child.0.id()) - cpu0;
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

/// `payops batch` of 10,000 refund rows (200 in smoke mode), each on an
/// order of its own, at concurrency 32, on a fresh SQLite store against
/// the fake: rows per second, process start and the file's checks
/// included. Every row must succeed.
fn batch_rate(full: bool, fake: &str, dir: &std::path::Path) {
    let rows = if full { 10_000 } else { 200 };
    let bdir = dir.join("batch");
    std::fs::create_dir_all(&bdir).expect("dir");
    let store = format!("sqlite://{}", bdir.join("payops.db").display());
    let cfg = bench_config(&bdir, fake, &store, true, false);
    let file = bdir.join("refunds.csv");
    let mut csv = String::from("order_ref,amount\n");
    for i in 0..rows {
        csv.push_str(&format!("BATCH-{i},{}\n", 100 + i % 900));
    }
    std::fs::write(&file, csv).expect("batch file");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_payops"))
        .args(["--config", &cfg, "-q", "batch", "--account", "esnek"])
        .args([
            "--operation",
            "refund",
            "--concurrency",
            "32",
            "--no-progress",
        ])
        .arg(&file)
        .current_dir(&bdir)
        .env_remove("PAYOPS_LOG")
        .output()
        .expect("payops batch");
    let took = started.elapsed();
    let results = std::fs::read_to_string(bdir.join("refunds.csv.results.csv")).unwrap_or_default();
    let succeeded = results
        .lines()
        .filter(|l| l.contains(",succeeded,"))
        .count();
    println!(
        "\npayops batch: {rows} refund rows at concurrency 32 in {:.2} s: {:.0} rows/s ({succeeded} succeeded)",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );
    assert!(
        out.status.success() && succeeded == rows,
        "every batch row must succeed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn run(full: bool) {
    // PAYOPS_BENCH_SECS: seconds per cell (default 5).
    let full_ms = std::env::var("PAYOPS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(5000, |s| (s * 1000.0) as u64);
    let secs = Duration::from_millis(if full { full_ms } else { 700 });
    let dir = std::env::temp_dir().join(format!("payops-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (fake_child, fake) = spawn_role("fake", &[]);
    // Stopped with the run (a plain Child would outlive it).
    let _fake = Reaped(fake_child);
    let mut servers = Vec::new();
    let (c, u) = spawn_role("b", &[&fake]);
    servers.push(Server {
        name: "B".into(),
        child: Reaped(c),
        url: u,
        kind: Kind::Proxy,
    });
    let bplus_db = dir.join("bplus.db").display().to_string();
    let (c, u) = spawn_role("bplus", &[&fake, &bplus_db]);
    servers.push(Server {
        name: "B+".into(),
        child: Reaped(c),
        url: u,
        kind: Kind::Proxy,
    });
    let sqlite = format!("sqlite://{}", dir.join("payops.db").display());
    let (c, u, startup) = spawn_payops(&dir, &fake, &sqlite);
    let payops_pid = c.id();
    servers.push(Server {
        name: "payops (SQLite)".into(),
        child: Reaped(c),
        url: u,
        kind: Kind::Payops,
    });
    let idle_rss = rss_mib(payops_pid);
    // payops as an operator runs it: `info`, JSON lines to a file.
    let info_dir = dir.join("info");
    std::fs::create_dir_all(&info_dir).expect("dir");
    let (c, u, _) = spawn_payops_bin(
        env!("CARGO_BIN_EXE_payops"),
        &info_dir,
        &fake,
        &format!("sqlite://{}", info_dir.join("payops.db").display()),
        Some(&info_dir.join("payops.log")),
    );
    servers.push(Server {
        name: "payops (SQLite, info logs)".into(),
        child: Reaped(c),
        url: u,
        kind: Kind::Payops,
    });
    if full
        && let Ok(pg) = std::env::var("PAYOPS_TEST_POSTGRES_URL")
        && !pg.is_empty()
    {
        let pg_dir = dir.join("pg");
        std::fs::create_dir_all(&pg_dir).expect("dir");
        let (c, u, _) = spawn_payops(&pg_dir, &fake, &pg);
        servers.push(Server {
            name: "payops (PostgreSQL)".into(),
            child: Reaped(c),
            url: u,
            kind: Kind::Payops,
        });
    }
    // An earlier build to compare with (PAYOPS_BENCH_BASELINE=path/to/payops).
    if full && let Ok(bin) = std::env::var("PAYOPS_BENCH_BASELINE") {
        let base_dir = dir.join("baseline");
        std::fs::create_dir_all(&base_dir).expect("dir");
        let url = format!("sqlite://{}", base_dir.join("payops.db").display());
        let (c, u, _) = spawn_payops_bin(&bin, &base_dir, &fake, &url, None);
        servers.push(Server {
            name: "baseline payops (SQLite)".into(),
            child: Reaped(c),
            url: u,
            kind: Kind::Payops,
        });
        // Its own database: an older build refuses a schema migrated further.
        if let Ok(pg) = std::env::var("PAYOPS_BENCH_BASELINE_PG")
            && !pg.is_empty()
        {
            let pg_dir = dir.join("baseline-pg");
            std::fs::create_dir_all(&pg_dir).expect("dir");
            let (c, u, _) = spawn_payops_bin(&bin, &pg_dir, &fake, &pg, None);
            servers.push(Server {
                name: "baseline payops (PostgreSQL)".into(),
                child: Reaped(c),
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
    let info = &rows[3];
    println!(
        "payops at info (JSON lines to a file) / at warn: CPU {:.2}x, req/s @{c16} {:.2}x, p50 {:.2}x",
        info.cpu_us / p.cpu_us,
        info.rps_16 / p.rps_16,
        info.p50_1.as_secs_f64() / p.p50_1.as_secs_f64(),
    );
    println!(
        "payops at info (JSON lines to a file) / B+: p50 {:.2}x, req/s @{c16} {:.2}x, CPU {:.2}x",
        info.p50_1.as_secs_f64() / bp.p50_1.as_secs_f64(),
        info.rps_16 / bp.rps_16,
        info.cpu_us / bp.cpu_us,
    );
    println!(
        "payops: startup to listening {:.0} ms, RSS idle {idle_rss:.1} MiB, loaded {loaded_rss:.1} MiB",
        startup.as_secs_f64() * 1e3
    );
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    drop(servers);
    batch_rate(full, &fake, &dir);
    // PAYOPS_BENCH_SCALE=0 skips the store-size and guard parts.
    if std::env::var("PAYOPS_BENCH_SCALE").as_deref() != Ok("0") {
        scale(full, &fake, &dir).await;
        guard_cost(full, &fake, &dir).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(errors, 0, "every request must succeed");
    assert!(rows.iter().all(|r| r.rps_16 > 0.0), "every server answered");
}

/// Store-size scaling: the same store with 0, 100k and 1M operations
/// (inserted directly, spread over 7 accounts, 5 states and 30 days):
/// refund latency, lookup by id, a filtered list, and the CLI end to end.
/// SQLite, and PostgreSQL (a database of its own) when
/// `PAYOPS_TEST_POSTGRES_URL` is set. Smoke mode: SQLite, 0 and 1,000.
async fn scale(full: bool, fake: &str, dir: &std::path::Path) {
    let sizes: &[u64] = if full {
        &[0, 100_000, 1_000_000]
    } else {
        &[0, 1_000]
    };
    let mut stores = vec![("SQLite", None)];
    if full
        && let Ok(pg) = std::env::var("PAYOPS_TEST_POSTGRES_URL")
        && !pg.is_empty()
    {
        stores.push(("PostgreSQL", Some(pg)));
    }
    println!(
        "\nstore size (p50 of repeated requests; CLI: wall time of `payops operations list --account a3 --status succeeded --limit 50`, process start included)"
    );
    println!(
        "| store | operations | fill | refund @1 | GET by id | list filtered | CLI list | CLI show |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, pg) in stores {
        for &n in sizes {
            let url = match &pg {
                None => format!("sqlite://{}", dir.join(format!("scale-{n}.db")).display()),
                Some(admin) => fresh_pg_database(admin, "payops_bench_scale").await,
            };
            payops_store::Store::open(&url)
                .await
                .expect("store")
                .close()
                .await;
            let t = Instant::now();
            fill(&url, n).await;
            let fill_time = t.elapsed();
            let sdir = dir.join(format!("scale-{name}-{n}"));
            std::fs::create_dir_all(&sdir).expect("dir");
            let (child, base, _) = spawn_payops(&sdir, fake, &url);
            let server = Server {
                name: name.into(),
                child: Reaped(child),
                url: base.clone(),
                kind: Kind::Payops,
            };
            let refund = load_n(&server, 300).await;
            let client = payops_transport::ReqwestTransport::new().expect("client");
            let probe_id = if n > 0 {
                format!("op_scale{:012}", n / 2)
            } else {
                refund.1.clone()
            };
            let by_id = get_p50(&client, &format!("{base}/v1/operations/{probe_id}"), 300).await;
            let list = get_p50(
                &client,
                &format!("{base}/v1/operations?account=a3&status=succeeded&limit=50"),
                100,
            )
            .await;
            let cfg = sdir.join("bench.toml").display().to_string();
            let cli = |args: &[&str]| {
                let mut times: Vec<Duration> = (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        let out = Command::new(env!("CARGO_BIN_EXE_payops"))
                            .args(["--config", &cfg])
                            .args(args)
                            .env_remove("PAYOPS_LOG")
                            .output()
                            .expect("payops");
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        t.elapsed()
                    })
                    .collect();
                times.sort();
                times[2]
            };
            let cli_list = cli(&[
                "operations",
                "list",
                "--account",
                "a3",
                "--status",
                "succeeded",
                "--limit",
                "50",
            ]);
            let cli_show = cli(&["operations", "show", &probe_id]);
            drop(server);
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "| {name} | {n} | {:.1} s | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} ms | {:.0} ms |",
                fill_time.as_secs_f64(),
                ms(refund.0),
                ms(by_id),
                ms(list),
                ms(cli_list),
                ms(cli_show),
            );
        }
    }
}

/// The order guard's cost by the order's history: refunds on orders with
/// 1 earlier operation, and on one order with 1,000 (SQLite; the earlier
/// operations inserted directly, `failed`, so none blocks the refunds, and
/// what was paid on each order too, so each refund is held against it).
async fn guard_cost(full: bool, fake: &str, dir: &std::path::Path) {
    let n = if full { 300 } else { 30 };
    let url = format!("sqlite://{}", dir.join("guard.db").display());
    payops_store::Store::open(&url)
        .await
        .expect("store")
        .close()
        .await;
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&url).await.expect("store");
    let columns = "id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, deadline_ms, actor";
    // The hot order's 1,000; one earlier operation on each cold order.
    let rows = |order: &str, from: u64, count: u64, per_row_order: bool| {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT {from} UNION ALL SELECT x + 1 FROM c WHERE x < {})
             INSERT INTO operations ({columns})
             SELECT printf('op_guard%012d', x), 'esnek', 'esnekpos', 'refund', 'g' || x, 'h',
                    '{{\"order_ref\":\"' || {order_expr} || '\",\"amount\":1}}', 'failed', NULL, 'inst_bench',
                    strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-1 day'), strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-1 day'),
                    NULL, {order_expr}, 0, 'bench'
             FROM c",
            from + count - 1,
            order_expr = if per_row_order {
                format!("'{order}' || x")
            } else {
                format!("'{order}'")
            }
        )
    };
    // What was paid on each order, as a query of it would have left it:
    // the guard then holds each refund against the order's row.
    let paid = |order_expr: &str, from: u64, count: u64| {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT {from} UNION ALL SELECT x + 1 FROM c WHERE x < {})
             INSERT INTO order_money (account, order_ref, currency, paid, paid_read_ms, paid_by, base, held)
             SELECT 'esnek', {order_expr}, 'TRY', 1000000000, 0, 'op_bench_query', 0, 0 FROM c",
            from + count - 1
        )
    };
    for sql in [
        rows("G-HOT", 1, 1000, false),
        rows("G-COLD-", 10_001, n as u64, true),
        paid("'G-HOT'", 1, 1),
        paid("'G-COLD-' || x", 10_001, n as u64),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .expect("fill");
    }
    drop(c);
    let gdir = dir.join("guard");
    std::fs::create_dir_all(&gdir).expect("dir");
    let (child, base, _) = spawn_payops(&gdir, fake, &url);
    let _child = Reaped(child);
    let client = payops_transport::ReqwestTransport::new().expect("client");
    let p50 = |orders: Vec<String>| {
        let (client, base) = (&client, &base);
        async move {
            let mut lat = Vec::new();
            for order in orders {
                let k = NEXT.fetch_add(1, Ordering::Relaxed);
                let req = HttpRequest::post(
                    format!("{base}/v1/accounts/esnek/operations/refund"),
                    "application/json",
                    format!(r#"{{"order_ref":"{order}","amount":1}}"#),
                )
                .with_header("Authorization", format!("Bearer {TOKEN}"))
                .with_header("Idempotency-Key", format!("guard-{k}"));
                let t = Instant::now();
                let r = client.send(req).await.expect("refund");
                lat.push(t.elapsed());
                let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
                assert_eq!(v["status"], "succeeded", "{v}");
            }
            lat.sort();
            lat[lat.len() / 2]
        }
    };
    let cold = p50((0..n).map(|i| format!("G-COLD-{}", 10_001 + i)).collect()).await;
    let hot = p50((0..n).map(|_| "G-HOT".to_owned()).collect()).await;
    println!("\norder guard by the order's history (SQLite, p50 of {n} refunds one after another)");
    println!("| earlier operations on the order | refund @1 |");
    println!("|---|---|");
    println!("| 1 | {:.2} ms |", cold.as_secs_f64() * 1e3);
    println!("| 1,000 | {:.2} ms |", hot.as_secs_f64() * 1e3);
}

/// Drops and creates database `name` on the server of `admin` (a URL);
/// returns its URL.
async fn fresh_pg_database(admin: &str, name: &str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin).await.expect("postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await
    .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create");
    let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

/// Inserts `n` finished operations straight into the store at `url`.
async fn fill(url: &str, n: u64) {
    if n == 0 {
        return;
    }
    use sqlx::Connection;
    let columns = "id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, deadline_ms, actor";
    // The same rows in each database's dialect.
    let sql = if url.starts_with("sqlite:") {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
             INSERT INTO operations ({columns})
             SELECT printf('op_scale%012d', x), 'a' || (x % 7), 'esnekpos', 'refund', 'k' || x, 'h',
                    '{{\"order_ref\":\"S' || x || '\",\"amount\":100}}',
                    CASE x % 5 WHEN 0 THEN 'succeeded' WHEN 1 THEN 'failed' WHEN 2 THEN 'succeeded' WHEN 3 THEN 'unknown' ELSE 'pending' END,
                    NULL, 'inst_bench',
                    strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-' || (x % 2592000) || ' seconds'),
                    strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-' || (x % 2592000) || ' seconds'),
                    NULL, 'S' || x, 0, 'bench'
             FROM c"
        )
    } else {
        format!(
            "INSERT INTO operations ({columns})
             SELECT 'op_scale' || lpad(x::text, 12, '0'), 'a' || (x % 7), 'esnekpos', 'refund', 'k' || x, 'h',
                    '{{\"order_ref\":\"S' || x || '\",\"amount\":100}}',
                    CASE x % 5 WHEN 0 THEN 'succeeded' WHEN 1 THEN 'failed' WHEN 2 THEN 'succeeded' WHEN 3 THEN 'unknown' ELSE 'pending' END,
                    NULL, 'inst_bench',
                    to_char((now() - (x % 2592000) * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    to_char((now() - (x % 2592000) * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    NULL, 'S' || x, 0, 'bench'
             FROM generate_series(1, {n}) AS x"
        )
    };
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.expect("store");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .expect("fill");
    sqlx::query("ANALYZE")
        .execute(&mut c)
        .await
        .expect("analyze");
}

/// `n` refunds one after another: the p50 latency and the last id.
async fn load_n(server: &Server, n: usize) -> (Duration, String) {
    let client = payops_transport::ReqwestTransport::new().expect("client");
    let mut lat = Vec::with_capacity(n);
    let mut last = String::new();
    for _ in 0..n {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let order = format!("S{}-{k}", std::process::id());
        let req = HttpRequest::post(
            format!("{}/v1/accounts/esnek/operations/refund", server.url),
            "application/json",
            format!(r#"{{"order_ref":"{order}","amount":1}}"#),
        )
        .with_header("Authorization", format!("Bearer {TOKEN}"))
        .with_header("Idempotency-Key", format!("k-{order}"));
        let t = Instant::now();
        let r = client.send(req).await.expect("refund");
        lat.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["status"], "succeeded", "{v}");
        last = v["operation_id"].as_str().unwrap_or_default().to_owned();
    }
    lat.sort();
    (lat[n / 2], last)
}

/// The p50 of `n` authorized GETs of `url` (each must answer 200).
async fn get_p50(client: &payops_transport::ReqwestTransport, url: &str, n: usize) -> Duration {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let req = HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("Authorization".into(), format!("Bearer {TOKEN}"))],
            body: Vec::new(),
            timeout_ms: Some(30_000),
            safe: false,
        };
        let t = Instant::now();
        let r = client.send(req).await.expect("get");
        lat.push(t.elapsed());
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
    }
    lat.sort();
    lat[n / 2]
}
