//! Probing the configured store before a daemon relies on it.

use super::*;

/// Checks `store.url` the way the store will use it, without creating
/// anything: the scheme, and for SQLite that the file or its directory is
/// there and writable, for PostgreSQL that it answers.
pub async fn check_store(url: &str) -> Result<(), String> {
    if let Some(path) = payops_store::sqlite_file(url).map_err(|e| e.to_string())? {
        let path = std::path::Path::new(path);
        let probe = if path.exists() {
            path.to_path_buf()
        } else {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            if !dir.is_dir() {
                return Err(format!(
                    "{}: the directory {} does not exist",
                    path.display(),
                    dir.display()
                ));
            }
            dir.to_path_buf()
        };
        let meta = std::fs::metadata(&probe).map_err(|e| format!("{}: {e}", probe.display()))?;
        if meta.permissions().readonly() {
            return Err(format!("{}: not writable", probe.display()));
        }
        #[cfg(unix)]
        {
            // Permission bits do not tell for this user: try.
            if probe.is_dir() {
                let test = probe.join(format!(".payops-check-{}", std::process::id()));
                std::fs::write(&test, b"")
                    .map_err(|e| format!("{}: cannot create files there ({e})", probe.display()))?;
                let _ = std::fs::remove_file(&test);
            } else {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&probe)
                    .map_err(|e| format!("{}: cannot write ({e})", probe.display()))?;
            }
        }
        return Ok(());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            payops_store::Store::open(url),
        )
        .await
        {
            Ok(Ok(s)) => {
                s.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("{e} ({})", redact_url(url))),
            Err(_) => Err(format!("no answer within 5 s ({})", redact_url(url))),
        };
    }
    Err(format!(
        "{:?} is not a store URL: use sqlite://PATH or postgres://…",
        redact_url(url)
    ))
}
