//! Access tokens: JWTs signed with HS256 — the only algorithm accepted (RFC 8725 §3.1) — with a
//! key id for rotation, and `iss`, `aud`, `exp`, `nbf` and `typ` checked on every use. Expiry is
//! checked against the injected clock, not the library's system time, so tests can move time.
use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::model::{Role, SubjectKind, Viewer},
    config::{AuthSettings, JwtKey, Secret},
    error::{AppError, AppResult},
};

const ALGORITHM: Algorithm = Algorithm::HS256;
/// RFC 9068 media type for access tokens, in the JOSE header.
const HEADER_TYP: &str = "at+jwt";
/// Our own claim, so that no other JWT signed with the same key passes as an access token.
const CLAIM_TYP: &str = "access";
const LEEWAY_SECONDS: i64 = 5;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub typ: String,
    /// The login session (refresh-token family); revoking it ends the token early.
    pub sid: Uuid,
    /// `resident` or `staff`.
    pub knd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Uuid>,
}

/// The signing and verifying keys, by key id.
pub struct TokenKeys {
    keys: HashMap<String, (EncodingKey, DecodingKey)>,
    active_kid: String,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("active_kid", &self.active_kid)
            .finish_non_exhaustive()
    }
}

/// A new random key for the embedded default (stored under the data directory).
pub fn generate_key_material() -> String {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

impl TokenKeys {
    pub fn new(settings: &AuthSettings, keys: &[JwtKey]) -> anyhow::Result<Self> {
        let first = keys
            .first()
            .ok_or_else(|| anyhow::anyhow!("no JWT signing key configured"))?;
        let active_kid = settings
            .active_kid
            .clone()
            .unwrap_or_else(|| first.kid.clone());
        let keys: HashMap<_, _> = keys
            .iter()
            .map(|k| {
                let secret = k.secret.expose().as_bytes();
                (
                    k.kid.clone(),
                    (
                        EncodingKey::from_secret(secret),
                        DecodingKey::from_secret(secret),
                    ),
                )
            })
            .collect();
        if !keys.contains_key(&active_kid) {
            anyhow::bail!("active_kid {active_kid:?} is not among the configured JWT keys");
        }
        Ok(Self {
            keys,
            active_kid,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: i64::try_from(settings.access_ttl_seconds.min(7200)).unwrap_or(3600),
        })
    }

    /// Convenience for a single key (tests, embedded default).
    pub fn single(settings: &AuthSettings, kid: &str, secret: &str) -> anyhow::Result<Self> {
        Self::new(
            settings,
            &[JwtKey {
                kid: kid.to_string(),
                secret: Secret::new(secret),
            }],
        )
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Signs an access token for a session, valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        now: DateTime<Utc>,
        kind: SubjectKind,
        subject: Uuid,
        session_id: Uuid,
        role: Option<Role>,
        unit: Option<Uuid>,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let iat = now.timestamp();
        let exp = iat + self.ttl_seconds;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject,
            exp,
            nbf: iat,
            iat,
            jti: Uuid::now_v7(),
            typ: CLAIM_TYP.into(),
            sid: session_id,
            knd: kind.as_str().into(),
            role: role.map(|r| r.as_str().to_string()),
            unit,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.active_kid.clone());
        header.typ = Some(HEADER_TYP.into());
        let (key, _) = self
            .keys
            .get(&self.active_kid)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("active key missing")))?;
        let token = encode(&header, &claims, key).map_err(AppError::internal)?;
        let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or(now);
        Ok((token, expires_at))
    }

    /// Verifies signature, algorithm, key id, `typ`, `iss`, `aud`, `nbf` and `exp`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> AppResult<AccessClaims> {
        let invalid = || AppError::Unauthenticated("the access token is invalid".into());
        let header = decode_header(token).map_err(|_| invalid())?;
        if header.alg != ALGORITHM || header.typ.as_deref() != Some(HEADER_TYP) {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let (_, key) = self.keys.get(&kid).ok_or_else(invalid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = decode::<AccessClaims>(token, key, &validation)
            .map_err(|_| invalid())?
            .claims;
        if claims.typ != CLAIM_TYP {
            return Err(invalid());
        }
        let now = now.timestamp();
        if claims.nbf > now + LEEWAY_SECONDS {
            return Err(invalid());
        }
        if claims.exp <= now - LEEWAY_SECONDS {
            return Err(AppError::Unauthenticated(
                "the access token has expired; refresh the session".into(),
            ));
        }
        Ok(claims)
    }
}

impl AccessClaims {
    /// The viewer these (already verified) claims describe.
    pub fn viewer(&self) -> AppResult<Viewer> {
        let invalid = || AppError::Unauthenticated("the access token is invalid".into());
        let expires_at = DateTime::from_timestamp(self.exp, 0).ok_or_else(invalid)?;
        match self.knd.parse::<SubjectKind>().map_err(|_| invalid())? {
            SubjectKind::Resident => Ok(Viewer::Resident {
                user_id: self.sub,
                session_id: self.sid,
                expires_at,
            }),
            SubjectKind::Staff => Ok(Viewer::Staff {
                staff_id: self.sub,
                session_id: self.sid,
                role: self
                    .role
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(invalid)?,
                unit_id: self.unit,
                expires_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test-only";

    fn keys() -> TokenKeys {
        TokenKeys::single(&AuthSettings::default(), "k1", SECRET).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn token(keys: &TokenKeys) -> String {
        keys.issue(
            now(),
            SubjectKind::Resident,
            Uuid::now_v7(),
            Uuid::now_v7(),
            None,
            None,
        )
        .unwrap()
        .0
    }

    fn forge(header: serde_json::Value, claims: serde_json::Value, sig: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as U;
        format!(
            "{}.{}.{}",
            U.encode(header.to_string()),
            U.encode(claims.to_string()),
            sig
        )
    }

    #[test]
    fn a_fresh_token_verifies_and_names_its_viewer() {
        let keys = keys();
        let claims = keys.verify(&token(&keys), now()).unwrap();
        assert!(matches!(claims.viewer().unwrap(), Viewer::Resident { .. }));
    }

    #[test]
    fn rejected_tokens() {
        let keys = keys();
        let good = token(&keys);
        let claims: serde_json::Value = {
            use base64::engine::general_purpose::URL_SAFE_NO_PAD as U;
            let part = good.split('.').nth(1).unwrap();
            serde_json::from_slice(&U.decode(part).unwrap()).unwrap()
        };
        let other_keys = TokenKeys::single(
            &AuthSettings::default(),
            "k1",
            "another-secret-another-secret-another",
        )
        .unwrap();
        let wrong_iss = AuthSettings {
            issuer: "someone-else".into(),
            ..AuthSettings::default()
        };
        let wrong_aud = AuthSettings {
            audience: "another-app".into(),
            ..AuthSettings::default()
        };
        let cases: Vec<(&str, String, DateTime<Utc>)> = vec![
            (
                "alg none",
                forge(
                    serde_json::json!({"alg":"none","typ":"at+jwt","kid":"k1"}),
                    claims.clone(),
                    "",
                ),
                now(),
            ),
            (
                "wrong algorithm",
                forge(
                    serde_json::json!({"alg":"HS512","typ":"at+jwt","kid":"k1"}),
                    claims.clone(),
                    "AAAA",
                ),
                now(),
            ),
            ("wrong key", token(&other_keys), now()),
            ("expired", good.clone(), now() + Duration::hours(3)),
            ("not yet valid", good.clone(), now() - Duration::hours(1)),
            (
                "wrong issuer",
                TokenKeys::single(&wrong_iss, "k1", SECRET)
                    .map(|k| token(&k))
                    .unwrap(),
                now(),
            ),
            (
                "wrong audience",
                TokenKeys::single(&wrong_aud, "k1", SECRET)
                    .map(|k| token(&k))
                    .unwrap(),
                now(),
            ),
            (
                "unknown kid",
                TokenKeys::single(&AuthSettings::default(), "k9", SECRET)
                    .map(|k| token(&k))
                    .unwrap(),
                now(),
            ),
            (
                "opaque refresh token",
                "bbr_5q2kQ0wqkYb0x3Yh0Xh7x6Vn0pQ".into(),
                now(),
            ),
            ("garbage", "a.b.c".into(), now()),
        ];
        for (name, token, at) in cases {
            let err = keys.verify(&token, at).unwrap_err();
            assert_eq!(err.code(), "UNAUTHENTICATED", "{name}");
        }
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let old = TokenKeys::single(&AuthSettings::default(), "k1", SECRET).unwrap();
        let issued = token(&old);
        let settings = AuthSettings {
            active_kid: Some("k2".into()),
            ..AuthSettings::default()
        };
        let rotated = TokenKeys::new(
            &settings,
            &[
                JwtKey {
                    kid: "k1".into(),
                    secret: Secret::new(SECRET),
                },
                JwtKey {
                    kid: "k2".into(),
                    secret: Secret::new("second-key-second-key-second-key-2"),
                },
            ],
        )
        .unwrap();
        assert!(rotated.verify(&issued, now()).is_ok());
        let fresh = token(&rotated);
        assert!(
            old.verify(&fresh, now()).is_err(),
            "old deployment does not know k2"
        );
    }
}
