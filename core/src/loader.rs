//! The host side's loader: opens a provider cdylib with libloading,
//! checks its [`PluginDeclaration`] (magic, protocol version, payops-core
//! version) before calling anything, and hands the function table to the
//! [`driver`](crate::driver). Behind the `host` feature: a provider's own
//! dependency tree never has libloading.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::driver::PluginProvider;
use crate::protocol::{
    ABI_VERSION, CORE_VERSION, DECLARATION_SYMBOL, MAGIC, MIN_ABI_VERSION, PluginDeclaration,
    StrRef,
};

/// Why a library could not be loaded as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened as a shared library.
    #[error("{file}: cannot open as a shared library: {reason}")]
    Open {
        /// The file.
        file: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// No declaration symbol: not a payops plugin.
    #[error("{file}: not a payops plugin (no {DECLARATION_SYMBOL} symbol)")]
    NotAPlugin {
        /// The file.
        file: PathBuf,
    },
    /// The declaration does not start with the magic bytes.
    #[error("{file}: {DECLARATION_SYMBOL} is not a payops declaration (bad magic)")]
    BadMagic {
        /// The file.
        file: PathBuf,
    },
    /// A version check failed.
    #[error("{file}: {what} mismatch: expected {expected:?}, found {found:?}")]
    Mismatch {
        /// The file.
        file: PathBuf,
        /// The plugin protocol version or the payops-core version.
        what: &'static str,
        /// What the host was built with.
        expected: String,
        /// What the plugin declares.
        found: String,
    },
    /// The plugin answered `info` with an error or garbage.
    #[error("{file}: plugin info failed: {reason}")]
    Info {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl LoadError {
    /// The file concerned.
    pub fn file(&self) -> &Path {
        match self {
            LoadError::Open { file, .. }
            | LoadError::NotAPlugin { file }
            | LoadError::BadMagic { file }
            | LoadError::Mismatch { file, .. }
            | LoadError::Info { file, .. } => file,
        }
    }
}

/// Reads a [`StrRef`] defensively.
///
/// # Safety
/// `s` must point at `len` readable bytes.
unsafe fn read_str(s: &StrRef) -> String {
    if s.ptr.is_null() || s.len > 4096 {
        return "<invalid>".into();
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Checks a declaration against this host: magic, then the protocol (ABI)
/// version (exact), then the payops-core version (semver-compatible, see
/// [`core_compatible`]). The rustc version is not checked: only `extern "C"`
/// functions, `repr(C)` structs and JSON bytes cross the boundary.
///
/// # Safety
/// `decl` must point at readable memory at least as large as the magic and
/// ABI version; the strings are only read once the ABI version matches.
pub unsafe fn check_declaration(
    file: &Path,
    decl: *const PluginDeclaration,
) -> Result<(), LoadError> {
    let file = file.to_path_buf();
    // SAFETY: the caller guarantees the header fields are readable.
    let (magic, abi) = unsafe {
        (
            std::ptr::read_unaligned(std::ptr::addr_of!((*decl).magic)),
            std::ptr::read_unaligned(std::ptr::addr_of!((*decl).abi_version)),
        )
    };
    if magic != MAGIC {
        return Err(LoadError::BadMagic { file });
    }
    if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&abi) {
        return Err(LoadError::Mismatch {
            file,
            what: "plugin protocol version (rebuild the plugin against a payops-core that speaks this payops's protocol; `payops --version` prints it)",
            expected: format!("{MIN_ABI_VERSION} to {ABI_VERSION}"),
            found: abi.to_string(),
        });
    }
    // SAFETY: a protocol version this host speaks, so the layout is ours
    // (the declaration's and the API's layout did not change since
    // MIN_ABI_VERSION).
    let decl = unsafe { &*decl };
    // Only C functions and JSON cross the boundary: the compiler that built
    // the plugin does not matter (its version is kept for diagnostics).
    let core = unsafe { read_str(&decl.core_version) };
    if !core_compatible(&core, CORE_VERSION) {
        return Err(LoadError::Mismatch {
            file,
            what: "payops-core version (semver-compatible: same major, and same minor for 0.x)",
            expected: format!("{} (a compatible release)", CORE_VERSION),
            found: core,
        });
    }
    Ok(())
}

/// Semver compatibility of a plugin's payops-core with the host's: the
/// same major version, and for 0.x the same minor (as cargo reads `^`).
/// A newer patch of a compatible release loads.
pub fn core_compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parse(plugin), parse(host)) {
        (Some((pm, pn)), Some((hm, hn))) => pm == hm && (hm > 0 || pn == hn),
        _ => false,
    }
}

/// Loads a provider plugin from a shared library.
///
/// The library is opened, its declaration checked, and only then is
/// `register` called. The library is never unloaded (plugins may leave
/// thread-locals and statics behind); every object made from it also holds
/// it alive.
pub fn load(path: &Path) -> Result<PluginProvider, LoadError> {
    // SAFETY: loading a library runs its initializers; payops plugins have
    // none beyond Rust's, and foreign files are refused before any call.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        // libloading's message is "dlopen failed"; the loader's own words
        // (e.g. "invalid ELF header") are in the error's source.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(&format!(": {s}"));
            source = s.source();
        }
        LoadError::Open {
            file: path.to_path_buf(),
            reason,
        }
    })?;
    let decl: *const PluginDeclaration = unsafe {
        match lib.get::<*const PluginDeclaration>(DECLARATION_SYMBOL.as_bytes()) {
            // The symbol's address is the static itself.
            Ok(sym) => sym.try_as_raw_ptr().map(|p| p as *const PluginDeclaration),
            Err(_) => None,
        }
    }
    .filter(|p| !p.is_null())
    .ok_or_else(|| LoadError::NotAPlugin {
        file: path.to_path_buf(),
    })?;
    // SAFETY: a symbol of this name is at least as large as the header or the
    // magic check fails on garbage that happens to be readable.
    unsafe { check_declaration(path, decl)? };
    let api = unsafe { ((*decl).register)() };
    let lib = Arc::new(lib);
    keep_loaded(lib.clone());
    PluginProvider::new(api, Some(lib), Some(path.to_path_buf())).map_err(|e| LoadError::Info {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn keep_loaded(lib: Arc<libloading::Library>) {
    static LOADED: OnceLock<Mutex<Vec<Arc<libloading::Library>>>> = OnceLock::new();
    LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(lib);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PluginApi, RUSTC_VERSION};

    extern "C" fn register() -> PluginApi {
        unreachable!("never called by a failing check")
    }

    fn decl(
        magic: [u8; 8],
        abi: u32,
        rustc: &'static str,
        core: &'static str,
    ) -> PluginDeclaration {
        PluginDeclaration {
            magic,
            abi_version: abi,
            rustc_version: StrRef::new(rustc),
            core_version: StrRef::new(core),
            register,
        }
    }

    #[test]
    fn matching_declaration_is_accepted() {
        let d = decl(MAGIC, ABI_VERSION, RUSTC_VERSION, CORE_VERSION);
        unsafe { check_declaration(Path::new("libok.so"), &d) }.unwrap();
        // A plugin of the oldest protocol this host speaks loads too.
        let d = decl(MAGIC, MIN_ABI_VERSION, RUSTC_VERSION, CORE_VERSION);
        unsafe { check_declaration(Path::new("libold.so"), &d) }.unwrap();
        let d = decl(MAGIC, MIN_ABI_VERSION - 1, RUSTC_VERSION, CORE_VERSION);
        assert!(unsafe { check_declaration(Path::new("libolder.so"), &d) }.is_err());
    }

    #[test]
    fn core_compatibility_follows_cargo_caret() {
        assert!(core_compatible("0.2.0", "0.2.5"));
        assert!(core_compatible("0.2.7", "0.2.5"));
        assert!(!core_compatible("0.3.0", "0.2.5"));
        assert!(!core_compatible("0.1.9", "0.2.5"));
        assert!(core_compatible("1.4.0", "1.9.2"));
        assert!(!core_compatible("2.0.0", "1.9.2"));
        assert!(core_compatible("0.2.0-rc.1", "0.2.0"));
        assert!(!core_compatible("garbage", "0.2.0"));
        assert!(!core_compatible("", "0.2.0"));
    }

    #[test]
    fn mismatches_are_refused_with_file_and_both_versions() {
        let file = Path::new("/plugins/libbad.so");
        let d = decl(MAGIC, ABI_VERSION + 1, RUSTC_VERSION, CORE_VERSION);
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/plugins/libbad.so") && e.contains("protocol version"),
            "{e}"
        );
        assert!(
            e.contains(&format!("expected \"{MIN_ABI_VERSION} to {ABI_VERSION}\""))
                && e.contains(&format!("found \"{}\"", ABI_VERSION + 1)),
            "{e}"
        );
        assert!(e.contains("rebuild"), "the error says the fix: {e}");

        // Another rustc does not matter: only C functions and JSON cross.
        let d = decl(
            MAGIC,
            ABI_VERSION,
            "rustc 1.0.0 (a28077b28 2015-05-13)",
            CORE_VERSION,
        );
        assert!(unsafe { check_declaration(file, &d) }.is_ok());
        // A compatible newer core patch loads.
        let (major, rest) = CORE_VERSION.split_once('.').unwrap();
        let minor = rest.split('.').next().unwrap();
        let patch = format!("{major}.{minor}.999");
        let d = decl(
            MAGIC,
            ABI_VERSION,
            RUSTC_VERSION,
            Box::leak(patch.into_boxed_str()),
        );
        assert!(unsafe { check_declaration(file, &d) }.is_ok());
        assert!(core_compatible("0.1.7", "0.1.0"));
        assert!(!core_compatible("0.2.0", "0.1.0"));
        assert!(core_compatible("1.4.0", "1.0.2"));
        assert!(!core_compatible("2.0.0", "1.0.2"));
        assert!(!core_compatible("garbage", "0.1.0"));

        let d = decl(MAGIC, ABI_VERSION, RUSTC_VERSION, "0.0.1-other");
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("libbad.so") && e.contains("payops-core version"),
            "{e}"
        );
        assert!(e.contains(CORE_VERSION) && e.contains("0.0.1-other"), "{e}");

        let d = decl(*b"NOTPAYOP", ABI_VERSION, RUSTC_VERSION, CORE_VERSION);
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad magic"), "{e}");
    }

    #[test]
    fn foreign_library_is_refused_not_crashed() {
        let dir = std::env::temp_dir().join(format!("payops-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("libjunk.so");
        std::fs::write(&junk, b"\x7fELF garbage").unwrap();
        let e = load(&junk).unwrap_err();
        assert!(matches!(e, LoadError::Open { .. }), "{e}");
        assert!(e.to_string().contains("libjunk.so"));
        let missing = load(&dir.join("nope.so")).unwrap_err();
        assert!(missing.to_string().contains("nope.so"));
    }
}
