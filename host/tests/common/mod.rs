//! Helpers for running the real `payops` binary in tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hex SHA-256 of `s`: what `[[tokens]] token_sha256` holds.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Credentials used by the host tests; no output may ever contain them.
pub const SECRETS: &[&str] = &[
    "hostsecret-esnek-key-4242",
    "tpw-Secr3t",
    "0d7f3e2a-5b1c-4e8d-9a6f-7c2b1e0f9d3a",
    "support-token-xyz-123",
];

/// The `payops` binary under test: the one cargo built, or
/// `PAYOPS_TEST_EXE` (to run the black-box suites against another build).
pub fn exe() -> PathBuf {
    std::env::var_os("PAYOPS_TEST_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_payops")))
}

/// A temp dir unique to this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("payops-host-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A plugin dir holding the providers' cdylibs when cargo did not place them
/// next to the binary (e.g. `cargo test -p payops-host`); empty otherwise.
pub fn plugin_dir(dir: &Path) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let bin_dir = exe().parent().unwrap().to_path_buf();
    for name in [
        "payops_esnekpos",
        "payops_iyzico",
        "payops_nestpay",
        "payops_paytr",
        "payops_sipay",
        "payops_turkpos",
    ] {
        let file = payops_conformance::cdylib_file_name(name);
        if !bin_dir.join(&file).exists() {
            std::fs::copy(payops_conformance::built_cdylib(name), plugins.join(&file))
                .expect("provider cdylib built");
        }
    }
    plugins
}

/// Fails the test if `text` contains a test credential.
pub fn assert_no_secrets(what: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "{what} contains the credential {s:?}:\n{text}"
        );
    }
    // Every output of the suite is also kept for the final grep test.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("payops-outputs");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!(
        "{}-{}.log",
        std::process::id(),
        what.replace(['/', ' '], "_")
    ));
    let _ = std::fs::write(file, text);
}

/// Runs `payops args…` to completion.
pub fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    run_env(args, cwd, &[])
}

/// Runs `payops args…` to completion with `env` set on top of a
/// `PAYOPS_LOG`-free environment.
pub fn run_env(args: &[&str], cwd: &Path, env: &[(String, String)]) -> (i32, String, String) {
    let out = Command::new(exe())
        .args(args)
        .current_dir(cwd)
        .env_remove("PAYOPS_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_secrets(
        &format!("payops {}", args.join(" ")),
        &format!("{stdout}\n{stderr}"),
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// `payops sandbox` with the config `config` (and `extra` flags), started
/// in `dir`: the daemon and the token it printed.
#[allow(dead_code)]
pub async fn start_sandbox(
    name: &'static str,
    dir: &Path,
    config: &str,
    extra: &[&str],
) -> (Daemon, String) {
    let mut args: Vec<String> = ["--config", config, "sandbox", "--listen", "127.0.0.1:0"]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let dir = dir.to_path_buf();
    let daemon = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Daemon::start(name, &args, &dir)
    })
    .await
    .unwrap();
    let token = daemon
        .stdout
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("sandbox token: "))
        .expect("token printed")
        .trim()
        .to_owned();
    (daemon, token)
}

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    pub name: String,
}

impl Daemon {
    /// `payops --config CONFIG serve --listen 127.0.0.1:0` in `cwd`.
    pub fn serve(name: &str, config: &Path, cwd: &Path) -> Daemon {
        Daemon::start(
            name,
            &[
                "--config",
                config.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ],
            cwd,
        )
    }

    /// Starts `payops args…` and waits for its "listening on" line.
    pub fn start(name: &str, args: &[&str], cwd: &Path) -> Daemon {
        Daemon::start_env(name, args, cwd, &[])
    }

    /// [`Daemon::start`] with `env` set.
    pub fn start_env(name: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(exe())
            .args(args)
            .current_dir(cwd)
            .env_remove("PAYOPS_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let e2 = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut url = None;
        let mut line = String::new();
        while url.is_none() && Instant::now() < deadline {
            line.clear();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            stdout.lock().unwrap().push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("payops listening on ") {
                url = Some(rest.to_owned());
            }
        }
        let s2 = stdout.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).unwrap_or(0) > 0 {
                s2.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let url = url.unwrap_or_else(|| panic!("daemon did not start: {}", stderr.lock().unwrap()));
        // Give the banner lines after "listening" a moment to arrive.
        std::thread::sleep(Duration::from_millis(100));
        Daemon {
            child,
            url,
            stdout,
            stderr,
            name: name.into(),
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
    }

    /// Waits for exit; returns the code.
    pub fn wait(&mut self) -> i32 {
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        let all = format!(
            "{}\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        );
        if !std::thread::panicking() {
            assert_no_secrets(&format!("daemon {}", self.name), &all);
        }
    }
}

/// Minimal HTTP/1.1 client over loopback: (status, body).
pub async fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut r = HttpRequest {
        method: method.into(),
        url: url.into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.unwrap_or("").as_bytes().to_vec(),
        timeout_ms: Some(20_000),
        safe: false,
    };
    if let Some(t) = token {
        r.headers
            .push(("Authorization".into(), format!("Bearer {t}")));
    }
    let resp = t.send(r).await.unwrap();
    let v = serde_json::from_slice(&resp.body).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&resp.body).into_owned())
    });
    (resp.status, v)
}

/// A request with extra headers (no bearer token); (status, body).
pub async fn http_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut r = HttpRequest {
        method: method.into(),
        url: url.into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.unwrap_or("").as_bytes().to_vec(),
        timeout_ms: Some(20_000),
        safe: false,
    };
    for (k, v) in headers {
        r.headers.push(((*k).into(), (*v).into()));
    }
    let resp = t.send(r).await.unwrap();
    let v = serde_json::from_slice(&resp.body).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&resp.body).into_owned())
    });
    (resp.status, v)
}

/// Reads one HTTP/1.1 request from a socket: (path, body), or `None` when the
/// peer closes first. For the test servers that stand in for providers.
pub async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    read_request_head(s).await.map(|(head, body)| {
        (
            head.split_whitespace().nth(1).unwrap_or("/").to_owned(),
            body,
        )
    })
}

/// [`read_request`] with the whole head (request line and headers).
pub async fn read_request_head(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    loop {
        let n = s.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(i) = text.find("\r\n\r\n") {
            let len = text[..i]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if got.len() >= i + 4 + len {
                return Some((text[..i].to_owned(), got[i + 4..i + 4 + len].to_vec()));
            }
        }
    }
}

/// A name unique to this process and moment (`{p}-{pid}-{nanos}`).
pub fn unique(p: &str) -> String {
    format!(
        "{p}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    )
}

/// The URL of the SQLite store `ops.db` in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ops.db").display())
}

/// Moves an operation's start `minutes` into the past, as if it had been
/// recorded that long ago (tests of evidence that needs time to pass).
pub async fn backdate(store_url: &str, id: &str, minutes: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(store_url).await.unwrap();
    let when = (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let r = sqlx::query("UPDATE operations SET created_at = $1 WHERE id = $2")
        .bind(when)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 1, "{id}");
    pool.close().await;
}

/// A simulator's ledger (`state().ledger`): what the provider recorded.
pub fn ledger(sim: &payops_transport::SimServer) -> Vec<serde_json::Value> {
    sim.with_sim(|s| s.state())["ledger"]
        .as_array()
        .unwrap()
        .clone()
}

/// A test config built from the config types themselves and written as
/// TOML (never hand-written text): the plugins of this build, then what
/// each test adds.
pub struct TestConfig(pub payops_host::config::Config);

impl TestConfig {
    /// The defaults, with `dir`'s plugins.
    pub fn new(dir: &Path) -> TestConfig {
        let mut cfg = payops_host::config::Config::default();
        cfg.plugins.dirs = vec![plugin_dir(dir)];
        TestConfig(cfg)
    }

    /// Any other setting.
    pub fn with(mut self, f: impl FnOnce(&mut payops_host::config::Config)) -> TestConfig {
        f(&mut self.0);
        self
    }

    /// The store's URL.
    pub fn store(self, url: &str) -> TestConfig {
        let url = url.to_owned();
        self.with(|c| c.store.url = url)
    }

    /// A bearer token (its SHA-256 is what the config keeps).
    pub fn token(
        self,
        name: &str,
        token: &str,
        accounts: &[&str],
        operations: &[&str],
    ) -> TestConfig {
        self.token_with(name, token, accounts, operations, |_| {})
    }

    /// A bearer token with more settings (resolve, override, limits).
    pub fn token_with(
        self,
        name: &str,
        token: &str,
        accounts: &[&str],
        operations: &[&str],
        more: impl FnOnce(&mut payops_host::config::TokenConfig),
    ) -> TestConfig {
        let mut t = payops_host::config::TokenConfig {
            name: name.into(),
            token_sha256: sha256_hex(token),
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
            role: None,
            resolve: false,
            override_open: false,
            max_amount_per_operation: None,
            max_amount_per_day: None,
        };
        more(&mut t);
        self.with(|c| c.tokens.push(t))
    }

    /// An account: `values` holds `provider` and the provider's keys.
    pub fn account(self, name: &str, values: serde_json::Value) -> TestConfig {
        let name = name.to_owned();
        let values = values.as_object().expect("an account is an object").clone();
        self.with(|c| {
            c.accounts.insert(name, values);
        })
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        toml::to_string(&self.0).expect("the config types serialize")
    }

    /// Writes the TOML to `path`; returns `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.toml()).unwrap();
        path.to_path_buf()
    }
}

/// The PostgreSQL URL; `None` (the test says SKIPPED) outside CI, a
/// failure with `CI=true`.
pub fn pg_url() -> Option<String> {
    let url = std::env::var("PAYOPS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but PAYOPS_TEST_POSTGRES_URL is not set");
    }
    url
}

/// A provider front that can hold requests: mode 0 passes through, 1 holds
/// without forwarding (the provider never acts), 2 forwards then holds the
/// answer (the provider acts, the caller never hears).
pub async fn proxy(target: String, mode: Arc<AtomicUsize>, seen: Arc<AtomicUsize>) -> String {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (target, mode, seen) = (target.clone(), mode.clone(), seen.clone());
            tokio::spawn(async move {
                let Some((path, body)) = read_request(&mut s).await else {
                    return;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let m = mode.load(Ordering::SeqCst);
                if m == 1 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let t = payops_transport::ReqwestTransport::new().unwrap();
                use payops_core::HttpTransport;
                let resp = t
                    .send(payops_core::HttpRequest::post(
                        format!("{target}{path}"),
                        "application/json",
                        body,
                    ))
                    .await
                    .unwrap();
                if m == 2 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    resp.status,
                    resp.body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&resp.body).await;
            });
        }
    });
    format!("http://{addr}")
}

/// The password of the local users the people tests add.
pub const PASSWORD: &str = "a long enough password";

/// How a request authenticates.
#[derive(Clone, Default)]
pub struct Auth {
    pub bearer: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// An answer: status, body, the `Set-Cookie` session value if any.
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub session: Option<String>,
}

pub async fn call(
    method: &str,
    url: &str,
    auth: &Auth,
    body: Option<&serde_json::Value>,
) -> Answer {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(b) = &auth.bearer {
        headers.push(("Authorization".into(), format!("Bearer {b}")));
    }
    if let Some(c) = &auth.cookie {
        headers.push(("Cookie".into(), format!("payops_session={c}")));
    }
    if let Some(c) = &auth.csrf {
        headers.push(("X-CSRF-Token".into(), c.clone()));
    }
    if method == "POST" && url.contains("/operations/") && !url.ends_with("/reconcile") {
        headers.push(("Idempotency-Key".into(), unique("k")));
    }
    let resp = t
        .send(HttpRequest {
            method: method.into(),
            url: url.into(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            timeout_ms: Some(30_000),
            safe: false,
        })
        .await
        .unwrap();
    let session = resp
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.strip_prefix("payops_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    Answer {
        status: resp.status,
        body: serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null),
        session,
    }
}

/// `payops users ARGS` with `stdin`; (exit code, stdout, stderr).
pub fn users(cfg: &Path, dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = std::process::Command::new(exe())
        .arg("--config")
        .arg(cfg)
        .arg("users")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Signs `name` in; the session's cookie and CSRF token.
pub async fn sign_in(d: &Daemon, name: &str) -> Auth {
    let a = call(
        "POST",
        &format!("{}/v1/auth/login", d.url),
        &Auth::default(),
        Some(&serde_json::json!({"username": name, "password": PASSWORD})),
    )
    .await;
    assert_eq!(a.status, 200, "{name}: {}", a.body);
    let cookie = a.session.expect("a session cookie");
    let me = call(
        "GET",
        &format!("{}/v1/me", d.url),
        &Auth {
            cookie: Some(cookie.clone()),
            ..Auth::default()
        },
        None,
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.body);
    Auth {
        cookie: Some(cookie),
        csrf: me.body["csrf_token"].as_str().map(str::to_owned),
        bearer: None,
    }
}

pub fn bearer(t: &str) -> Auth {
    Auth {
        bearer: Some(t.into()),
        ..Auth::default()
    }
}

/// A webhook receiver on loopback: answers 204, keeps each event body.
pub async fn webhook_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    webhook_receiver_with(|_, body| serde_json::from_slice(&body).ok()).await
}

/// A webhook receiver on loopback: answers 204, keeps `keep(head, body)`
/// of each request (when `Some`).
pub async fn webhook_receiver_with<T: Send + 'static>(
    keep: fn(String, Vec<u8>) -> Option<T>,
) -> (String, Arc<Mutex<Vec<T>>>) {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                while let Some((head, body)) = read_request_head(&mut s).await {
                    if let Some(v) = keep(head, body) {
                        g.lock().unwrap().push(v);
                    }
                    if s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}
