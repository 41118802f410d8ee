//! Access-key authentication exactly as fastapi_poe does it (protocol §2), but compared in
//! constant time, and never logged or echoed.

use std::fmt;

use axum::http::{HeaderMap, header::AUTHORIZATION};
use subtle::ConstantTimeEq;

/// Length of the keys Poe issues. Other lengths are accepted with a warning.
pub const POE_KEY_LENGTH: usize = 32;

/// A bot's access key. Its `Debug` output is redacted so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(String);

impl AccessKey {
    /// Wrap a key, trimming surrounding whitespace (a common copy-paste accident).
    pub fn new(key: &str) -> Self {
        Self(key.trim().to_owned())
    }

    /// Whether `candidate` is this key, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// The key itself, for the one place that sends it: the bot's calls to Poe's API
    /// (`capabilities::bot_query`). Never log or return it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether the key has the length of keys Poe issues.
    pub fn looks_like_poe_key(&self) -> bool {
        self.0.len() == POE_KEY_LENGTH && self.0.bytes().all(|b| b.is_ascii_graphic())
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

/// Why a request was not authenticated; each maps to fastapi_poe's 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable `Authorization: Bearer …` header.
    #[error("Not authenticated")]
    NotAuthenticated,
    /// A bearer header with the wrong scheme spelling or the wrong key.
    #[error("Invalid access key")]
    InvalidKey,
}

/// Check the `Authorization` header against `key`. With no key configured, any
/// well-formed bearer header passes (fastapi_poe's behaviour).
pub fn authorize(headers: &HeaderMap, key: Option<&AccessKey>) -> Result<(), AuthError> {
    let header = headers.get(AUTHORIZATION).ok_or(AuthError::NotAuthenticated)?;
    let header = header.to_str().map_err(|_| AuthError::NotAuthenticated)?;
    let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
    let credentials = credentials.trim();
    if scheme.is_empty() || credentials.is_empty() || !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotAuthenticated);
    }
    let key_ok = key.is_none_or(|key| key.matches(credentials));
    if scheme != "Bearer" || !key_ok {
        return Err(AuthError::InvalidKey);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, key: Option<&str>) -> Result<(), AuthError> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(AUTHORIZATION, h.parse().unwrap());
        }
        authorize(&headers, key.map(AccessKey::new).as_ref())
    }

    #[test]
    fn fastapi_poe_auth_table() {
        use AuthError::*;
        let key = Some("k".repeat(32)).map(|k| k.leak() as &str);
        assert_eq!(check(None, key), Err(NotAuthenticated));
        assert_eq!(check(Some("Basic x"), key), Err(NotAuthenticated));
        assert_eq!(check(Some("Bearer"), key), Err(NotAuthenticated));
        assert_eq!(check(Some("Bearer   "), key), Err(NotAuthenticated));
        assert_eq!(check(Some("Bearer wrong"), key), Err(InvalidKey));
        assert_eq!(check(Some(&format!("bearer {}", "k".repeat(32))), key), Err(InvalidKey));
        assert_eq!(check(Some(&format!("Bearer  {} ", "k".repeat(32))), key), Ok(()));
    }

    #[test]
    fn without_a_key_any_bearer_passes_but_a_header_is_required() {
        assert_eq!(check(Some("Bearer anything"), None), Ok(()));
        assert_eq!(check(None, None), Err(AuthError::NotAuthenticated));
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert!(!format!("{:?}", AccessKey::new("secret")).contains("secret"));
    }
}
