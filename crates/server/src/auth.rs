//! Bearer-token authentication and permission checks.
//!
//! Every dataport RPC calls [`Authenticator::authorize`] first with the permissions it accepts.
//! Tokens are looked up by their sha256 in the database (the store never sees or keeps the
//! secret itself), on a blocking thread so a slow database never stalls the runtime.

use dataport_core::{Permission, PermissionSet};
use dataport_store::Store;
use tonic::metadata::MetadataMap;

use crate::error::{ServiceError, blocking};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, recorded with the jobs it starts.
    pub token_name: String,
    pub permissions: PermissionSet,
}

/// Checks `authorization: Bearer <token>` metadata against the token table.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
}

impl Authenticator {
    pub fn new(store: Store) -> Self {
        Authenticator { store }
    }

    /// Authenticates the caller and checks that its token carries at least one of `accepted`
    /// (an empty list accepts any valid token). Missing or unknown tokens are UNAUTHENTICATED,
    /// missing permissions PERMISSION_DENIED naming the permission.
    pub async fn authorize(
        &self,
        metadata: &MetadataMap,
        accepted: &[Permission],
    ) -> Result<Caller, ServiceError> {
        let secret = bearer_token(metadata)?.to_owned();
        let store = self.store.clone();
        let token = blocking(move || Ok(store.authenticate(&secret)?)).await?;
        let Some(token) = token else {
            return Err(ServiceError::Unauthenticated(
                "unknown or revoked API token; create one with `dataport token create`".into(),
            ));
        };
        if !accepted.is_empty() && !accepted.iter().any(|p| token.permissions.allows(*p)) {
            return Err(ServiceError::PermissionDenied(accepted.to_vec()));
        }
        Ok(Caller {
            token_name: token.name,
            permissions: token.permissions,
        })
    }
}

/// Extracts the token from `authorization: Bearer <token>`.
fn bearer_token(metadata: &MetadataMap) -> Result<&str, ServiceError> {
    let missing = || {
        ServiceError::Unauthenticated(
            "missing API token: send the metadata `authorization: Bearer <token>` \
             (the CLI reads --token, DATAPORT_TOKEN or the token file)"
                .into(),
        )
    };
    let value = metadata.get("authorization").ok_or_else(missing)?;
    let value = value
        .to_str()
        .map_err(|_| ServiceError::Unauthenticated("the authorization metadata is not valid ASCII".into()))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| {
        ServiceError::Unauthenticated("the authorization metadata must read `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServiceError::Unauthenticated(
            "the authorization metadata must read `Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = value {
            map.insert("authorization", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn bearer_token_parsing() {
        assert_eq!(bearer_token(&metadata(Some("Bearer dp_abc"))).unwrap(), "dp_abc");
        assert_eq!(
            bearer_token(&metadata(Some("bearer   dp_abc "))).unwrap(),
            "dp_abc"
        );
        for bad in [None, Some("dp_abc"), Some("Basic dp_abc"), Some("Bearer ")] {
            let err = bearer_token(&metadata(bad)).unwrap_err();
            assert!(matches!(err, ServiceError::Unauthenticated(_)), "{bad:?}: {err}");
        }
    }
}
