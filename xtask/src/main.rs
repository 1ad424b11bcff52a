//! # xtask
//!
//! Project tasks run with `cargo xtask …` (the alias is in
//! `.cargo/config.toml`):
//!
//! - `cargo xtask dist [--out DIR] [--profile release|dev]`: builds the
//!   `payops` binary and the provider plugins and lays out an installable
//!   tree (default `target/dist/payops`):
//!
//!   ```text
//!   bin/payops                       the binary
//!   lib/payops/libpayops_*.so        the provider plugins, found relative to the binary
//!   share/payops/examples/           payops.toml, payops.service, request documents
//!   share/payops/schemas/            the exported JSON Schemas
//!   share/doc/payops/                README, CHANGELOG, docs/
//!   ```
//!
//!   Copy it under a prefix (`sudo cp -r target/dist/payops/* /usr/local/`)
//!   and `payops providers` lists both providers from any folder.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const PLUGINS: &[&str] = &[
    "payops_esnekpos",
    "payops_iyzico",
    "payops_nestpay",
    "payops_paytr",
    "payops_sipay",
    "payops_turkpos",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn dist(out: &Path, profile: &str) -> Result<(), String> {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build
        .current_dir(&root)
        .args(["build", "--profile", profile, "-p", "payops-host"]);
    for p in PLUGINS {
        build.args(["-p", &p.replace('_', "-")]);
    }
    let status = build.status().map_err(|e| format!("{cargo}: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let built = target_dir.join(if profile == "dev" { "debug" } else { profile });
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let bin = out.join("bin");
    let lib = out.join("lib/payops");
    let share = out.join("share/payops");
    let doc = out.join("share/doc/payops");
    for d in [&bin, &lib, &share, &doc] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let exe = format!("payops{}", std::env::consts::EXE_SUFFIX);
    std::fs::copy(built.join(&exe), bin.join(&exe)).map_err(|e| format!("{exe}: {e}"))?;
    for p in PLUGINS {
        let file = format!(
            "{}{p}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        std::fs::copy(built.join(&file), lib.join(&file)).map_err(|e| format!("{file}: {e}"))?;
    }
    copy_dir(&root.join("examples"), &share.join("examples"))
        .map_err(|e| format!("examples: {e}"))?;
    copy_dir(&root.join("schemas"), &share.join("schemas")).map_err(|e| format!("schemas: {e}"))?;
    copy_dir(&root.join("docs"), &doc.join("docs")).map_err(|e| format!("docs: {e}"))?;
    for f in ["README.md", "CHANGELOG.md"] {
        std::fs::copy(root.join(f), doc.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    println!("installable tree: {}", out.display());
    println!(
        "  bin/payops, lib/payops/ ({} plugins), share/payops/, share/doc/payops/",
        PLUGINS.len()
    );
    println!("install: sudo cp -r {}/* /usr/local/", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = root().join("target/dist/payops");
    let mut profile = "release".to_owned();
    let mut task = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "dist" => task = Some("dist"),
            "--out" if i + 1 < args.len() => {
                i += 1;
                out = PathBuf::from(&args[i]);
            }
            "--profile" if i + 1 < args.len() => {
                i += 1;
                profile = args[i].clone();
            }
            other => {
                eprintln!(
                    "xtask: unknown argument {other:?}\nusage: cargo xtask dist [--out DIR] [--profile release|dev]"
                );
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    match task {
        Some("dist") => match dist(&out, &profile) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask dist: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask dist [--out DIR] [--profile release|dev]");
            ExitCode::from(2)
        }
    }
}
