//! First start: with an empty token table the server creates an admin token and writes it to a
//! file only the current user can read, so a newcomer's quickstart needs no manual step.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use dataport_core::{Permission, PermissionSet};
use dataport_store::{Store, StoreError};

/// Name of the token created on first start.
pub const BOOTSTRAP_TOKEN_NAME: &str = "admin";

/// Why the bootstrap token could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the admin token to {path}: {source}; set --token-file to a writable path")]
    Write { path: PathBuf, source: io::Error },
}

/// Creates the admin token if the database has no token at all, and writes it to `token_file`
/// (mode 0600). Returns the file's absolute path when a token was created.
pub fn ensure_admin_token(store: &Store, token_file: &Path) -> Result<Option<PathBuf>, BootstrapError> {
    if store.count_tokens()? > 0 {
        return Ok(None);
    }
    let admin = PermissionSet::new(vec![Permission::Admin]);
    let secret = match store.create_token(BOOTSTRAP_TOKEN_NAME, &admin) {
        Ok((_, secret)) => secret,
        // Another replica sharing the database bootstrapped first; its file holds the token.
        Err(StoreError::UniqueViolation { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let written = write_private_file(token_file, &secret).map_err(|source| BootstrapError::Write {
        path: token_file.to_path_buf(),
        source,
    })?;
    Ok(Some(written))
}

/// Writes `secret` to `path` readable and writable by the owner only.
fn write_private_file(path: &Path, secret: &str) -> io::Result<PathBuf> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // A file that already existed keeps its old mode on open; tighten it explicitly.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        writeln!(file, "{secret}")?;
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        writeln!(file, "{secret}")?;
    }
    path.canonicalize()
}
