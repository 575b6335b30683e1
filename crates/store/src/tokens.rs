//! API tokens. Only the SHA-256 of a secret is stored; the secret is shown once at creation.

use chrono::{DateTime, NaiveDateTime, Utc};
use dataport_core::PermissionSet;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::backend::{Conn, on_conn};
use crate::error::{Result, StoreError};
use crate::schema::api_tokens;
use crate::time;

/// Secrets start with this, so they are recognisable in configs and secret scanners.
const SECRET_PREFIX: &str = "dp_";

/// `last_used_at` is written at most this often per token: authentication is a hot path.
pub(crate) const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A stored API token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub permissions: PermissionSet,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// From this instant on the token is refused; `None`: it never expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether the token has expired at `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What [`crate::Store::authenticate`] found for a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// An active token that has not expired: the call may go on.
    Valid(ApiToken),
    /// An active (not revoked) token whose `expires_at` has passed.
    Expired(ApiToken),
    /// No token has this secret, or it was revoked.
    Unknown,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: i64,
    name: String,
    permissions: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    expires_at: Option<NaiveDateTime>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self> {
        let permissions = r
            .permissions
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("permissions of token '{}': {e}", r.name)))?;
        Ok(ApiToken {
            id: r.id,
            name: r.name,
            permissions,
            created_at: time::to_utc(r.created_at),
            last_used_at: r.last_used_at.map(time::to_utc),
            revoked_at: r.revoked_at.map(time::to_utc),
            expires_at: r.expires_at.map(time::to_utc),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
struct NewTokenRow<'a> {
    name: &'a str,
    token_hash: &'a str,
    permissions: &'a str,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
}

/// Hex SHA-256 of a secret: what the table stores and looks tokens up by.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Database(format!("cannot draw random bytes for a token secret: {e}")))?;
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

pub(crate) fn create_token(
    conn: &mut Conn<'_>,
    name: &str,
    permissions: &PermissionSet,
    expires_in: Option<chrono::TimeDelta>,
) -> Result<(ApiToken, String)> {
    let secret = new_secret()?;
    let hash = hash_secret(&secret);
    let permissions = permissions.to_string();
    let created_at = time::now();
    let expires_at = expires_in
        .map(|lifetime| {
            if lifetime <= chrono::TimeDelta::zero() {
                return Err(StoreError::Database(format!(
                    "token '{name}': a lifetime must be positive, not {lifetime}"
                )));
            }
            created_at.checked_add_signed(lifetime).ok_or_else(|| {
                StoreError::Database(format!("token '{name}': the lifetime {lifetime} is too long"))
            })
        })
        .transpose()?;
    let row = NewTokenRow {
        name,
        token_hash: &hash,
        permissions: &permissions,
        created_at,
        expires_at,
    };
    // `as_returning()`/`as_select()` fix the backend, so they are built inside `on_conn!`.
    let insert = diesel::insert_into(api_tokens::table).values(&row);
    let created: TokenRow = on_conn!(conn, |c| insert.returning(TokenRow::as_returning()).get_result(c))
        .map_err(|e| match StoreError::from(e) {
            StoreError::UniqueViolation { .. } => StoreError::UniqueViolation {
                what: format!("token name '{name}' already exists; pick another name or revoke the old one"),
            },
            other => other,
        })?;
    Ok((created.try_into()?, secret))
}

pub(crate) fn list_tokens(conn: &mut Conn<'_>) -> Result<Vec<ApiToken>> {
    let query = api_tokens::table.order(api_tokens::id.asc());
    let rows: Vec<TokenRow> = on_conn!(conn, |c| query.select(TokenRow::as_select()).load(c)?);
    rows.into_iter().map(ApiToken::try_from).collect()
}

pub(crate) fn revoke_token(conn: &mut Conn<'_>, name: &str) -> Result<bool> {
    let update = diesel::update(
        api_tokens::table
            .filter(api_tokens::name.eq(name))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(time::now()));
    let n = on_conn!(conn, |c| update.execute(c)?);
    Ok(n > 0)
}

/// The active (not revoked) token whose secret hashes to `hash`, expired or not.
pub(crate) fn find_active(conn: &mut Conn<'_>, hash: &str) -> Result<Option<ApiToken>> {
    let query = api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .filter(api_tokens::revoked_at.is_null());
    let row: Option<TokenRow> = on_conn!(conn, |c| query
        .select(TokenRow::as_select())
        .first(c)
        .optional()?);
    row.map(ApiToken::try_from).transpose()
}

/// Whether `token`'s `last_used_at` is stale enough to be written again.
pub(crate) fn needs_touch(token: &ApiToken, now: NaiveDateTime) -> bool {
    token
        .last_used_at
        .is_none_or(|t| now.and_utc() - t >= LAST_USED_GRANULARITY)
}

/// Sets `last_used_at`; the guard makes racing authentications write once.
pub(crate) fn touch(conn: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> Result<()> {
    let stale = now - LAST_USED_GRANULARITY;
    let update = diesel::update(
        api_tokens::table.find(id).filter(
            api_tokens::last_used_at
                .is_null()
                .or(api_tokens::last_used_at.le(stale)),
        ),
    )
    .set(api_tokens::last_used_at.eq(now));
    on_conn!(conn, |c| update.execute(c)?);
    Ok(())
}

pub(crate) fn count_tokens(conn: &mut Conn<'_>) -> Result<u64> {
    let query = api_tokens::table.count();
    let n: i64 = on_conn!(conn, |c| query.get_result(c)?);
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative row count {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_hex() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert!(a.starts_with("dp_") && a.len() == 3 + 64);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }
}
