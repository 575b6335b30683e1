//! API permissions. The vendor guide allows import only to administrators or to accounts with
//! the 数据导入 (data import) permission; dataport models that as token permissions.

use std::{fmt, str::FromStr};

use crate::CoreError;

/// One thing a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Run imports (数据导入).
    Import,
    /// Run exports, counts and template downloads.
    Export,
    /// Everything, including job reports of every token.
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Import, Permission::Export, Permission::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Import => "import",
            Permission::Export => "export",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| CoreError::unknown("permission", s, &["import", "export", "admin"]))
    }
}

/// The permissions a token carries. `admin` implies every other permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(Vec<Permission>);

impl PermissionSet {
    pub fn new(mut permissions: Vec<Permission>) -> Self {
        permissions.sort();
        permissions.dedup();
        PermissionSet(permissions)
    }

    /// Whether a token with these permissions may do what `needed` allows.
    pub fn allows(&self, needed: Permission) -> bool {
        self.0.contains(&Permission::Admin) || self.0.contains(&needed)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for PermissionSet {
    /// Comma-separated, the form stored in the database and accepted by `--permissions`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|p| p.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for PermissionSet {
    type Err = CoreError;
    /// Parses `import,export`; empty parts are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let permissions = s
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Permission::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PermissionSet::new(permissions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sorted_unique() {
        let set: PermissionSet = "export, import,export".parse().unwrap();
        assert_eq!(set.to_string(), "import,export");
        assert!(set.allows(Permission::Import));
        assert!(!set.allows(Permission::Admin));
    }

    #[test]
    fn admin_allows_everything() {
        let set: PermissionSet = "admin".parse().unwrap();
        assert!(Permission::ALL.iter().all(|p| set.allows(*p)));
    }

    #[test]
    fn unknown_permission_names_the_choices() {
        let err = "import,root".parse::<PermissionSet>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown permission 'root': expected one of import, export, admin"
        );
    }
}
