//! `payops providers`: the loaded plugins and the files that were skipped.

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::{Global, Output, setup};
use crate::plugins::Registry;

/// Arguments of `payops providers`.
#[derive(Args, Debug)]
pub struct ProvidersArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Where a payops binary looks for plugins, for messages.
pub(crate) fn search_path(dirs: &[std::path::PathBuf]) -> String {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "(the binary's directory)".into());
    let mut places = vec![
        exe_dir.clone(),
        format!("{exe_dir}/{}", crate::plugins::INSTALLED_PLUGIN_DIR),
    ];
    places.extend(dirs.iter().map(|d| d.display().to_string()));
    places.join(", ")
}

/// Runs `payops providers`: exit 0 with at least one provider, 3 with none
/// (a binary without its plugins cannot do anything).
pub fn run(g: &Global, a: &ProvidersArgs) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    print(&s.registry, a.output);
    if s.registry.providers.is_empty() {
        return Err(super::fail(
            super::EXIT_CONFIG,
            format!(
                "no providers loaded; looked in {}. Install the provider cdylibs (libpayops_*.so) there: `cargo xtask dist` builds a tree with bin/payops and lib/payops/, or set plugins.dirs",
                search_path(&s.cfg.plugins.dirs)
            ),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn print(reg: &Registry, output: Output) {
    let list: Vec<Value> = reg
        .providers
        .values()
        .map(|p| {
            let i = p.info();
            json!({"id": i.id, "name": i.name, "version": i.version,
                   "file": p.file().map(|f| f.display().to_string()),
                   "capabilities": i.capabilities})
        })
        .collect();
    if output == Output::Json {
        let skipped: Vec<Value> = reg
            .skipped
            .iter()
            .map(|s| json!({"file": s.file.display().to_string(), "reason": s.reason}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"providers": list, "skipped": skipped}))
                .unwrap_or_default()
        );
        return;
    }
    for p in &list {
        let caps: Vec<&str> = p["capabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<10} {:<8} {:<40} {}",
            p["id"].as_str().unwrap_or(""),
            p["version"].as_str().unwrap_or(""),
            caps.join(","),
            p["file"].as_str().unwrap_or("")
        );
    }
    for s in &reg.skipped {
        println!("skipped    {}: {}", s.file.display(), s.reason);
    }
}
