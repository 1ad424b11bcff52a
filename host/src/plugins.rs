//! Finding and loading provider plugins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use payops_core::driver::PluginProvider;
use payops_core::loader;

/// A plugin that could not be loaded.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The file.
    pub file: PathBuf,
    /// Why.
    pub reason: String,
}

/// Loaded providers by id, plus what was skipped.
#[derive(Default)]
pub struct Registry {
    /// Providers by id.
    pub providers: BTreeMap<String, Arc<PluginProvider>>,
    /// Files that were not loaded, with the reason.
    pub skipped: Vec<Skipped>,
}

fn is_library(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some(std::env::consts::DLL_EXTENSION)
}

/// Where an installed tree keeps its plugins, relative to the binary's
/// directory: `bin/payops` finds `lib/payops/*.so` (the `cargo xtask dist`
/// layout).
pub(crate) const INSTALLED_PLUGIN_DIR: &str = "../lib/payops";

/// The shared libraries to try: `libpayops_*` in the executable's own
/// directory (where cargo puts the workspace's cdylibs) and in
/// `INSTALLED_PLUGIN_DIR` beside it, then every shared library in each of
/// `dirs`, each directory sorted by name.
pub fn candidates(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let own_prefix = format!("{}payops_", std::env::consts::DLL_PREFIX);
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in exe_dir
        .iter()
        .flat_map(|d| [d.clone(), d.join(INSTALLED_PLUGIN_DIR)])
    {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_library(p))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&own_prefix))
            })
            .collect();
        files.sort();
        out.extend(files);
    }
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_library(p))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Loads every candidate. A file that is not a payops plugin, is corrupt,
/// or was built by another compiler or core version is recorded in
/// `skipped` (and logged), never a crash. The first provider with an id wins.
pub(crate) fn load_all(dirs: &[PathBuf]) -> Registry {
    let mut reg = Registry::default();
    for dir in dirs {
        if !dir.is_dir() {
            reg.skipped.push(Skipped {
                file: dir.clone(),
                reason: "plugins.dirs entry is not a directory (missing?)".into(),
            });
        }
    }
    for file in candidates(dirs) {
        match loader::load(&file) {
            Ok(p) => {
                let id = p.info().id.clone();
                if let Some(existing) = reg.providers.get(&id) {
                    let reason = format!(
                        "provider {id:?} is already loaded from {}",
                        existing
                            .file()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default()
                    );
                    tracing::warn!(file = %file.display(), %reason, "plugin skipped");
                    reg.skipped.push(Skipped { file, reason });
                    continue;
                }
                tracing::debug!(file = %file.display(), provider = %id, "plugin loaded");
                reg.providers.insert(id, Arc::new(p));
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "plugin skipped");
                reg.skipped.push(Skipped {
                    file,
                    reason: e.to_string(),
                });
            }
        }
    }
    reg
}
