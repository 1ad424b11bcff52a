//! Marks tests that need outside tools ignored (visible as such in the test
//! runner's summary) when the tools are not set up:
//! - the PostgreSQL tests, unless `PAYOPS_TEST_POSTGRES_URL` is set at
//!   build time;
//! - the console's browser test, unless `host/ui/node_modules` holds
//!   Playwright (`npm ci` in `host/ui`). Under `CI=true` it is never
//!   ignored: a missing browser or package fails it;
//! - the alert rules' test, unless `promtool` is on the `PATH` (Debian's
//!   `prometheus` package). Under `CI=true` it is never ignored;
//! - the traces test, unless `python3` imports `opentelemetry.proto` (PyPI's
//!   `opentelemetry-proto`, checked when this script runs: after installing
//!   it, `touch host/build.rs`). Under `CI=true` it is never ignored.

fn main() {
    println!("cargo:rerun-if-env-changed=PAYOPS_TEST_POSTGRES_URL");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(payops_postgres)");
    println!("cargo::rustc-check-cfg=cfg(payops_browser)");
    println!("cargo::rustc-check-cfg=cfg(payops_promtool)");
    println!("cargo::rustc-check-cfg=cfg(payops_otlp)");
    println!("cargo:rerun-if-env-changed=PATH");
    let promtool = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("promtool").is_file()));
    if promtool || std::env::var("CI").as_deref() == Ok("true") {
        println!("cargo:rustc-cfg=payops_promtool");
    }
    let otlp = std::process::Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if otlp || std::env::var("CI").as_deref() == Ok("true") {
        println!("cargo:rustc-cfg=payops_otlp");
    }
    if std::env::var("PAYOPS_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=payops_postgres");
    }
    // The folder exists in every checkout (a path that does not would
    // rerun this script at every build); an `npm ci` changes it.
    println!("cargo:rerun-if-changed=ui");
    let installed = std::path::Path::new("ui/node_modules/playwright-core").is_dir();
    if installed || std::env::var("CI").as_deref() == Ok("true") {
        println!("cargo:rustc-cfg=payops_browser");
    }
}
