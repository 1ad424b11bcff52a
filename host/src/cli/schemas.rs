//! `payops schemas`: export the JSON Schema tree, or check a committed one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Global, fail, setup};

/// Arguments of `payops schemas`: exactly one of `--out` and `--check`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct SchemasArgs {
    /// Write the schema tree into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare DIR with what would be exported; exit 1 when stale.
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,
}

/// Runs `payops schemas`.
pub fn run(g: &Global, a: &SchemasArgs) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let tree = crate::schemas::tree(s.registry.providers.values().map(|p| p.as_ref()));
    if let Some(dir) = &a.out {
        crate::schemas::write(dir, &tree)
            .map_err(|e| fail(1, format!("{}: {e}", dir.display())))?;
        println!("wrote {} schema files to {}", tree.len(), dir.display());
    } else if let Some(dir) = &a.check {
        if !dir.is_dir() {
            return Err(fail(
                2,
                format!(
                    "{}: no such directory to check (export one with `payops schemas --out {}`)",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
        let diffs = crate::schemas::check(dir, &tree)
            .map_err(|e| fail(1, format!("{}: {e}", dir.display())))?;
        if !diffs.is_empty() {
            for (path, what) in &diffs {
                eprintln!("  {path}: {what}");
            }
            return Err(fail(
                1,
                format!(
                    "{} is stale: {} file(s) differ; run `payops schemas --out {}`",
                    dir.display(),
                    diffs.len(),
                    dir.display()
                ),
            ));
        }
        println!("{} is up to date ({} files)", dir.display(), tree.len());
    }
    Ok(ExitCode::SUCCESS)
}
