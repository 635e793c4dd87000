//! Where warden keeps its state, following the XDG base directory rules.
//! Resolved once from the environment at start-up and passed down, so tests
//! point warden elsewhere without touching the process environment.

use std::path::PathBuf;

/// warden's directories.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Grants and (later) policy: `$XDG_CONFIG_HOME/warden`.
    pub config: PathBuf,
    /// Installed plugins, the audit log and the undo journal:
    /// `$XDG_DATA_HOME/warden`.
    pub data: PathBuf,
    /// Compiled components: `$XDG_CACHE_HOME/warden`.
    pub cache: PathBuf,
    /// Session transcripts: `$XDG_STATE_HOME/warden`.
    pub state: PathBuf,
    /// The user's home (`HOME`), given to child processes.
    pub home: Option<PathBuf>,
}

impl Dirs {
    /// Resolve from an environment lookup (usually `std::env::var_os`).
    pub fn from_env(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<Self> {
        let home = get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let base = |var: &str, fallback: &str| -> Option<PathBuf> {
            match get(var).filter(|v| !v.is_empty()).map(PathBuf::from) {
                Some(p) if p.is_absolute() => Some(p),
                _ => home.as_ref().map(|h| h.join(fallback)),
            }
        };
        Some(Dirs {
            config: base("XDG_CONFIG_HOME", ".config")?.join("warden"),
            data: base("XDG_DATA_HOME", ".local/share")?.join("warden"),
            cache: base("XDG_CACHE_HOME", ".cache")?.join("warden"),
            state: base("XDG_STATE_HOME", ".local/state")?.join("warden"),
            home: home.clone(),
        })
    }

    /// warden's own directories, which no plugin or child may see: each as
    /// configured and as its real path (resolved through its deepest
    /// existing ancestor when it does not exist yet), so that an
    /// `XDG_*_HOME` reaching into a workspace through a symlink is still
    /// recognised there.
    pub fn protected(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in [&self.config, &self.data, &self.cache, &self.state] {
            for q in [
                p.clone(),
                crate::capability::files::guard::real_or_planned(p),
            ] {
                if !out.contains(&q) {
                    out.push(q);
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Dirs;
    use std::ffi::OsString;
    use std::path::Path;

    #[test]
    fn follows_xdg() {
        let env = |k: &str| match k {
            "HOME" => Some(OsString::from("/home/u")),
            "XDG_CACHE_HOME" => Some(OsString::from("/tmp/c")),
            "XDG_DATA_HOME" => Some(OsString::from("relative/ignored")),
            _ => None,
        };
        let d = Dirs::from_env(env).unwrap();
        assert_eq!(d.config, Path::new("/home/u/.config/warden"));
        assert_eq!(d.data, Path::new("/home/u/.local/share/warden"));
        assert_eq!(d.cache, Path::new("/tmp/c/warden"));
        assert_eq!(d.state, Path::new("/home/u/.local/state/warden"));
        assert!(Dirs::from_env(|_| None).is_none());
    }

    #[test]
    fn protected_dirs_include_their_real_paths_before_they_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("ws")).unwrap();
        std::os::unix::fs::symlink(root.join("ws"), root.join("cfg")).unwrap();
        let cfg = root.join("cfg");
        let env = |k: &str| match k {
            "HOME" => Some(OsString::from("/home/u")),
            "XDG_CONFIG_HOME" => Some(cfg.clone().into_os_string()),
            _ => None,
        };
        let d = Dirs::from_env(env).unwrap();
        let p = d.protected();
        assert!(p.contains(&root.join("cfg/warden")));
        assert!(p.contains(&root.join("ws/warden")), "{p:?}");
    }
}
