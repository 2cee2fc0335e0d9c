//! Passwords (argon2id) and bearer tokens (HS256 JWT, expiry checked against
//! the system's clock so that a manual clock moves it too).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::errors::{ApiError, ApiResult};

/// The kinds of client a token is issued to.
pub const WEB: &str = "web";
/// Rule A11: a mobile session may only approve and reject.
pub const MOBILE: &str = "mobile";

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The tenant id.
    pub tid: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// The user's password changes and resets when the token was issued: a
    /// later change or reset ends the session, however soon it follows.
    #[serde(default)]
    pub sessions: u64,
    /// The kind of client the token was issued to.
    #[serde(default)]
    pub client: String,
}

/// Longest password a login may present; longer ones cannot match the
/// policy and are refused without hashing.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Signs and checks tokens, hashes and verifies passwords.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: chrono::Duration,
    argon: Arc<Argon2<'static>>,
    /// At most one argon2 run per core at a time: each takes the configured
    /// memory, and a flood of logins must not take it all.
    hashing: Arc<tokio::sync::Semaphore>,
    /// A hash to verify against when the account does not exist.
    dummy_hash: String,
    pub throttle: LoginThrottle,
}

impl Auth {
    /// Uses the signing key in `key_file`, creating a random one the first
    /// time.
    ///
    /// # Errors
    /// When the key file cannot be read or written, or the argon2 cost is
    /// out of range.
    pub fn open(key_file: &Path, ttl: Duration, memory_kib: u32) -> anyhow::Result<Self> {
        use anyhow::Context;
        let key = crate::secrets::key_file(key_file)?;
        let params = Params::new(memory_kib, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"no account has this password")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            ttl: chrono::Duration::from_std(ttl).context("token lifetime")?,
            argon: Arc::new(argon),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
            dummy_hash,
            throttle: LoginThrottle::default(),
        })
    }

    /// A token for `user` of `tenant`, whose password has been changed or
    /// reset `sessions` times, valid from `now` for the configured time.
    ///
    /// # Errors
    /// When signing fails.
    pub fn issue(
        &self,
        tenant: Uuid,
        user: Uuid,
        sessions: u64,
        now: DateTime<Utc>,
        client: &str,
    ) -> ApiResult<(String, DateTime<Utc>)> {
        let expires = now + self.ttl;
        let claims = Claims {
            sub: user,
            tid: tenant,
            iat: now.timestamp(),
            exp: expires.timestamp(),
            sessions,
            client: client.into(),
        };
        let token = encode(&Header::default(), &claims, &self.encoding).map_err(ApiError::internal)?;
        Ok((token, expires))
    }

    /// The claims of a genuine, unexpired token.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for a forged, malformed or expired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> ApiResult<Claims> {
        // Expiry is checked below, against the system's clock.
        let mut validation = Validation { validate_exp: false, ..Validation::default() };
        validation.required_spec_claims.clear();
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ApiError::unauthenticated("the token is not valid; log in again"))?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(ApiError::unauthenticated("the token has expired; log in again"));
        }
        Ok(claims)
    }

    /// The argon2id PHC string of `password`.
    ///
    /// # Errors
    /// When hashing fails.
    pub async fn hash_password(&self, password: &str) -> ApiResult<String> {
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        let argon = self.argon.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || argon.hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }

    /// Whether `password` matches the PHC string `hash`. Without a hash (no
    /// such account) it takes as long and answers no.
    pub async fn verify_password(&self, hash: Option<&str>, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let Ok(_permit) = self.hashing.acquire().await else { return false };
        let argon = self.argon.clone();
        let exists = hash.is_some();
        let (hash, password) = (hash.unwrap_or(&self.dummy_hash).to_owned(), password.to_owned());
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        exists && matched
    }
}

/// Failed password checks (logins, and the current password of a password
/// change), counted per account and client address and per client address:
/// after [`LoginThrottle::PER_ACCOUNT_AND_ADDRESS`] failures of one account
/// from one address, or [`LoginThrottle::PER_ADDRESS`] failures of any
/// accounts from one address, within [`LoginThrottle::WINDOW`], further
/// checks from there are refused until the oldest failure leaves the
/// window. Guessing is slowed, and nobody elsewhere can lock the owner out.
#[derive(Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<Counted, Vec<DateTime<Utc>>>>,
}

/// What one count of failures is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Counted {
    AccountFrom { account: String, address: String },
    Address(String),
}

impl LoginThrottle {
    pub const PER_ACCOUNT_AND_ADDRESS: usize = 5;
    pub const PER_ADDRESS: usize = 30;
    pub const WINDOW: chrono::Duration = chrono::Duration::minutes(15);

    fn failures(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Counted, Vec<DateTime<Utc>>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn counts(account: &str, address: &str) -> [(Counted, usize); 2] {
        let address = Self::network(address);
        [
            (
                Counted::AccountFrom { account: account.to_owned(), address: address.clone() },
                Self::PER_ACCOUNT_AND_ADDRESS,
            ),
            (Counted::Address(address), Self::PER_ADDRESS),
        ]
    }

    /// What one client's address is counted as: an IPv4 address itself, an
    /// IPv6 address by its /64 network (one host is commonly given a whole
    /// /64, and could otherwise guess from a fresh address every time).
    fn network(address: &str) -> String {
        match address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            _ => address.to_owned(),
        }
    }

    /// Starts a password check of `account` from `address`: refused while
    /// either count is full, else counted as a failure at once, so that
    /// checks running side by side cannot all pass before the first
    /// failure is recorded. A right password takes it back
    /// ([`LoginThrottle::succeeded`]).
    ///
    /// # Errors
    /// `LIMIT_EXCEEDED` while `account` from `address`, or `address`, has
    /// too many recent failures.
    pub fn attempt(&self, account: &str, address: &str, now: DateTime<Utc>) -> ApiResult<()> {
        let mut failures = self.failures();
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.iter().any(|t| *t > now - Self::WINDOW));
        }
        let counts = Self::counts(account, address);
        for (counted, limit) in &counts {
            let recent: Vec<_> =
                failures.get(counted).into_iter().flatten().filter(|t| **t > now - Self::WINDOW).collect();
            if recent.len() >= *limit {
                let retry = *recent[recent.len() - limit] + Self::WINDOW;
                return Err(ApiError::new(
                    crate::errors::Code::LimitExceeded,
                    format!("too many failed password checks; try again after {}", retry.to_rfc3339()),
                ));
            }
        }
        for (counted, _) in counts {
            let times = failures.entry(counted).or_default();
            times.retain(|t| *t > now - Self::WINDOW);
            times.push(now);
        }
        Ok(())
    }

    /// The right password, for the attempt started at `started`: it clears
    /// the account's count from `address` and takes the attempt back from
    /// the address's count; the address's earlier failures stay, so one's
    /// own account cannot launder guesses at others.
    pub fn succeeded(&self, account: &str, address: &str, started: DateTime<Utc>) {
        let [(from_here, _), (address, _)] = Self::counts(account, address);
        let mut failures = self.failures();
        failures.remove(&from_here);
        if let Some(times) = failures.get_mut(&address)
            && let Some(i) = times.iter().rposition(|t| *t == started)
        {
            times.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dir: &tempfile::TempDir) -> Auth {
        Auth::open(&dir.path().join("token.key"), Duration::from_secs(3600), 1024).unwrap()
    }

    #[tokio::test]
    async fn tokens_expire_by_the_system_clock_and_cannot_be_forged() {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth(&dir);
        let now = Utc::now();
        let (tenant, user) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, expires) = auth.issue(tenant, user, 0, now, WEB).unwrap();
        assert_eq!(expires, now + chrono::Duration::hours(1));
        let claims = auth.verify(&token, now + chrono::Duration::minutes(59)).unwrap();
        assert_eq!((claims.tid, claims.sub), (tenant, user));
        assert!(auth.verify(&token, now + chrono::Duration::minutes(61)).is_err());
        // The same key file gives the same key; another key rejects the token.
        assert!(
            Auth::open(&dir.path().join("token.key"), Duration::from_secs(60), 1024)
                .unwrap()
                .verify(&token, now)
                .is_ok()
        );
        let other = tempfile::tempdir().unwrap();
        assert!(
            super::Auth::open(&other.path().join("token.key"), Duration::from_secs(60), 1024)
                .unwrap()
                .verify(&token, now)
                .is_err()
        );
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert!(auth.verify(&tampered, now).is_err());
        assert!(auth.verify("not-a-token", now).is_err());
    }

    #[tokio::test]
    async fn passwords_are_hashed_with_argon2id() {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth(&dir);
        let hash = auth.hash_password("s3cret-pass").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(auth.verify_password(Some(&hash), "s3cret-pass").await);
        assert!(!auth.verify_password(Some(&hash), "s3cret-pasS").await);
        assert!(!auth.verify_password(Some("garbage"), "s3cret-pass").await);
        assert!(!auth.verify_password(None, "no account has this password").await);
        assert!(!auth.verify_password(Some(&hash), &"x".repeat(10_000)).await);
    }

    #[test]
    fn five_failures_lock_an_account_only_from_the_address_they_came_from() {
        let throttle = LoginThrottle::default();
        let start = Utc::now();
        let (attacker, owner) = ("203.0.113.9", "198.51.100.7");
        for i in 0..5 {
            assert!(throttle.attempt("acme.com/kim", attacker, start + chrono::Duration::minutes(i)).is_ok());
        }
        let later = start + chrono::Duration::minutes(5);
        assert!(throttle.attempt("acme.com/kim", attacker, later).is_err());
        // The owner, from elsewhere, is not locked out; other accounts from
        // the attacker's address are not either (yet).
        assert!(throttle.attempt("acme.com/kim", owner, later).is_ok());
        throttle.succeeded("acme.com/kim", owner, later);
        assert!(throttle.attempt("acme.com/lee", attacker, later).is_ok());
        // The window passes.
        let after = start + chrono::Duration::minutes(15);
        assert!(throttle.attempt("acme.com/kim", attacker, after).is_ok());
        throttle.succeeded("acme.com/kim", attacker, after);
        assert!(throttle.attempt("acme.com/kim", attacker, after).is_ok());
    }

    #[test]
    fn checks_side_by_side_are_counted_before_any_of_them_ends() {
        let throttle = LoginThrottle::default();
        let now = Utc::now();
        // Fifty guesses started at once, none finished yet: five get through.
        let started = (0..50).filter(|_| throttle.attempt("acme.com/kim", "203.0.113.9", now).is_ok()).count();
        assert_eq!(started, 5);
        // A right password takes its own attempt back, not the others.
        let throttle = LoginThrottle::default();
        assert!(throttle.attempt("acme.com/kim", "203.0.113.9", now).is_ok());
        assert!(throttle.attempt("acme.com/lee", "203.0.113.9", now).is_ok());
        throttle.succeeded("acme.com/lee", "203.0.113.9", now);
        let failures = throttle.failures();
        assert_eq!(failures.get(&Counted::Address("203.0.113.9".into())).map(Vec::len), Some(1));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_network() {
        let throttle = LoginThrottle::default();
        let start = Utc::now();
        for i in 0..5 {
            assert!(throttle.attempt("acme.com/kim", &format!("2001:db8:1:2::{i:x}"), start).is_ok());
        }
        assert!(throttle.attempt("acme.com/kim", "2001:db8:1:2:ffff::1", start).is_err());
        assert!(throttle.attempt("acme.com/kim", "2001:db8:1:3::1", start).is_ok());
        // An IPv4 client seen through an IPv6 socket is that IPv4 address.
        for _ in 0..5 {
            assert!(throttle.attempt("acme.com/lee", "::ffff:203.0.113.9", start).is_ok());
        }
        assert!(throttle.attempt("acme.com/lee", "203.0.113.9", start).is_err());
        assert!(throttle.attempt("acme.com/lee", "203.0.113.10", start).is_ok());
    }

    #[test]
    fn thirty_failures_from_one_address_across_accounts_stop_that_address() {
        let throttle = LoginThrottle::default();
        let start = Utc::now();
        let attacker = "203.0.113.9";
        for i in 0..29 {
            assert!(throttle.attempt(&format!("acme.com/user{i}"), attacker, start).is_ok(), "guess {i}");
        }
        // A success on one's own account takes back only its own attempt,
        // not the address's failures.
        assert!(throttle.attempt("acme.com/mine", attacker, start).is_ok());
        throttle.succeeded("acme.com/mine", attacker, start);
        assert!(throttle.attempt("acme.com/user29", attacker, start).is_ok());
        assert!(throttle.attempt("acme.com/user99", attacker, start).is_err());
        assert!(throttle.attempt("acme.com/mine", attacker, start).is_err());
        assert!(throttle.attempt("acme.com/user99", "198.51.100.7", start).is_ok());
        assert!(throttle.attempt("acme.com/user99", attacker, start + LoginThrottle::WINDOW).is_ok());
    }
}
