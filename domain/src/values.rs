//! Validated values: each is built through `parse`, so a value that exists is
//! valid.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// Public portal domains a company cannot sign up with (rule T2).
const PUBLIC_PORTAL_DOMAINS: &[&str] = &[
    "naver.com",
    "daum.net",
    "hanmail.net",
    "gmail.com",
    "googlemail.com",
    "nate.com",
    "kakao.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.kr",
    "icloud.com",
    "me.com",
    "aol.com",
    "empas.com",
    "paran.com",
    "korea.com",
    "dreamwiz.com",
    "lycos.co.kr",
    "chol.com",
    "freechal.com",
    "hanmir.com",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "mail.com",
    "gmx.com",
    "yandex.com",
];

/// A mail domain owned by a tenant: lower-case, IDNA (punycode) form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Normalises (trims, lower-cases, converts to IDNA ASCII) and validates a
    /// domain name.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for a malformed domain.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim().trim_end_matches('.');
        let bad = |m: &str| DomainError::invalid("domain", format!("`{}` {m}", input.trim()));
        if trimmed.is_empty() {
            return Err(DomainError::invalid("domain", "the domain is empty"));
        }
        let ascii =
            idna::domain_to_ascii_strict(trimmed).map_err(|_| bad("is not a valid domain name"))?.to_ascii_lowercase();
        if ascii.len() > 253 {
            return Err(bad("is longer than 253 characters"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs at least two labels, such as example.com"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(bad("is not a valid domain name"));
            }
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad("is an address, not a domain name"));
        }
        Ok(Self(ascii))
    }

    /// Like [`DomainName::parse`], and refuses public portal domains and their
    /// subdomains (rule T2).
    ///
    /// # Errors
    /// [`DomainError::PublicPortalDomain`] for a portal domain, as rule T2's
    /// refusal.
    pub fn parse_company_owned(input: &str) -> Result<Self, DomainError> {
        let domain = Self::parse(input)?;
        let portal = PUBLIC_PORTAL_DOMAINS
            .iter()
            .any(|p| domain.0 == *p || domain.0.strip_suffix(p).is_some_and(|rest| rest.ends_with('.')));
        if portal {
            return Err(DomainError::PublicPortalDomain(domain.0).by_rule("T2"));
        }
        Ok(domain)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant id that belongs to this primary domain: one domain, one
    /// tenant stream, so two sign-ups for one domain conflict in the store.
    pub fn tenant_id(&self) -> Uuid {
        Uuid::new_v5(&TENANT_NAMESPACE, self.0.as_bytes())
    }
}

const TENANT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_2a8e_5b1d_4c3e_9a7f_0d2e_8b4c_1a55);

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's ID: the local part of their address (rule T4), lower-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct LoginId(String);

impl LoginId {
    /// # Errors
    /// [`DomainError::Invalid`] unless the ID is 1 to 64 characters of
    /// letters, digits, `.`, `_` and `-`, starting and ending with a letter
    /// or digit.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let id = input.trim().to_ascii_lowercase();
        if id.is_empty() {
            return Err(DomainError::invalid("userId", "the ID is empty"));
        }
        if id.len() > 64 {
            return Err(DomainError::invalid("userId", "the ID is longer than 64 characters"));
        }
        let allowed = id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        let edges = id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && id.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
        if !allowed || !edges || id.contains("..") {
            return Err(DomainError::invalid(
                "userId",
                format!(
                    "`{}` is not a valid ID: use letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
                    input.trim()
                ),
            ));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name of a person or a company: trimmed, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// # Errors
    /// [`DomainError::Invalid`] for an empty name, one over 100 characters,
    /// or one with control characters.
    pub fn parse(field: &'static str, input: &str) -> Result<Self, DomainError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(DomainError::invalid(field, "the name is empty"));
        }
        if name.chars().count() > 100 {
            return Err(DomainError::invalid(field, "the name is longer than 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(DomainError::invalid(field, "the name contains control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password in clear, checked against the password policy before it is
/// hashed outside the domain. It never enters an event.
pub struct Password<'a>(&'a str);

impl<'a> Password<'a> {
    /// The policy: 8 to 128 characters, at least one letter and one digit,
    /// not containing the user's ID.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the unmet part of the policy.
    pub fn parse(input: &'a str, login: &LoginId) -> Result<Self, DomainError> {
        let length = input.chars().count();
        if length < 8 {
            return Err(DomainError::invalid("password", "the password must have at least 8 characters"));
        }
        if length > 128 {
            return Err(DomainError::invalid("password", "the password must have at most 128 characters"));
        }
        if !input.chars().any(char::is_alphabetic) || !input.chars().any(|c| c.is_ascii_digit()) {
            return Err(DomainError::invalid("password", "the password must contain a letter and a digit"));
        }
        if input.to_lowercase().contains(login.as_str()) {
            return Err(DomainError::invalid("password", "the password must not contain the user's ID"));
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &'a str {
        self.0
    }
}

/// A password hash (PHC string) made outside the domain.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A role a user can hold besides being a plain user (rules U3, H1, A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Role {
    Admin,
    HrManager,
    DocumentAdmin,
    /// Reads the audit trail, stream histories and past states of the
    /// company and changes nothing: an auditor's account holds no other
    /// role.
    Auditor,
}

/// Business or individual member (rule B2 decides the receipt kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MemberType {
    Business,
    Individual,
}

/// The billing cycle: 1, 12 or 24 months (rule T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct BillingCycle(u8);

impl BillingCycle {
    /// # Errors
    /// [`DomainError::Invalid`] for anything but 1, 12 or 24.
    pub fn parse(months: i64) -> Result<Self, DomainError> {
        match months {
            1 | 12 | 24 => Ok(Self(months as u8)),
            _ => Err(DomainError::invalid("billingCycleMonths", "the billing cycle is 1, 12 or 24 months")),
        }
    }

    pub fn months(self) -> u8 {
        self.0
    }
}

/// An IANA time zone name, such as `Asia/Seoul` (the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TimeZone(String);

impl Default for TimeZone {
    fn default() -> Self {
        Self("Asia/Seoul".into())
    }
}

impl TimeZone {
    /// # Errors
    /// [`DomainError::Invalid`] for a name that is not an IANA time zone.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        input
            .trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| DomainError::invalid("timeZone", format!("`{input}` is not a known time zone")))
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0.parse().unwrap_or(chrono_tz::Asia::Seoul)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The calendar date at `instant` in this zone.
    pub fn date_at(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.tz()).date_naive()
    }

    /// The instant `date` begins in this zone: its midnight, or, where the
    /// clocks skip midnight, the first moment of the day that exists.
    pub fn midnight(&self, date: NaiveDate) -> DateTime<Utc> {
        let tz = self.tz();
        (0..24)
            .filter_map(|hour| date.and_hms_opt(hour, 0, 0))
            .find_map(|local| local.and_local_timezone(tz).earliest())
            .map_or_else(|| date.and_time(NaiveTime::MIN).and_utc(), |t| t.with_timezone(&Utc))
    }
}

/// A month of the calendar, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// Reads `YYYY-MM` (years 1970 to 9999).
    ///
    /// # Errors
    /// [`DomainError::Invalid`] on `field` for anything else.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
        // A long input is not repeated back.
        let shown = if text.chars().count() <= 16 { format!("`{text}`") } else { "this".to_owned() };
        let invalid = || DomainError::invalid(field, format!("{shown} is not a month (YYYY-MM)"));
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        let (year, month) = (year.parse().map_err(|_| invalid())?, month.parse().map_err(|_| invalid())?);
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || text.len() != 7 {
            return Err(invalid());
        }
        Ok(Self { year, month })
    }

    /// The month `date` is in.
    pub fn of(date: NaiveDate) -> Self {
        use chrono::Datelike;
        Self { year: date.year(), month: date.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    #[must_use]
    pub fn next(self) -> Self {
        if self.month == 12 { Self { year: self.year + 1, month: 1 } } else { Self { month: self.month + 1, ..self } }
    }

    #[must_use]
    pub fn previous(self) -> Self {
        if self.month == 1 { Self { year: self.year - 1, month: 12 } } else { Self { month: self.month - 1, ..self } }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl TryFrom<String> for Month {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse("month", &text).map_err(|e| e.to_string())
    }
}

impl From<Month> for String {
    fn from(month: Month) -> Self {
        month.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_month_is_written_year_dash_month() {
        let month = Month::parse("from", "2026-12").unwrap();
        assert_eq!(month.to_string(), "2026-12");
        assert_eq!(month.next().to_string(), "2027-01");
        assert_eq!(month.first_day(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(Month::of(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()).to_string(), "2026-02");
        let long = Month::parse("from", &"9".repeat(100_000)).unwrap_err().to_string();
        assert!(long.len() < 100, "{long}");
        for bad in ["2026-13", "2026-1", "26-01", "x", "1969-12", "2026-00"] {
            let refused = Month::parse("from", bad).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Validation, "{bad}");
        }
    }

    #[test]
    fn a_day_begins_at_midnight_in_the_zone() {
        let seoul = TimeZone::parse("Asia/Seoul").unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(seoul.midnight(date), "2026-11-27T15:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(seoul.date_at("2026-11-27T14:59:59Z".parse().unwrap()), date.pred_opt().unwrap());
        assert_eq!(seoul.date_at("2026-11-27T15:00:00Z".parse().unwrap()), date);
        // Where the clocks skip midnight, the day begins at the first hour
        // that exists.
        let santiago = TimeZone::parse("America/Santiago").unwrap();
        let skipped = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(santiago.date_at(santiago.midnight(skipped)), skipped);
    }

    #[test]
    fn rule_t2_refuses_public_portal_domains_and_their_subdomains() {
        for portal in ["naver.com", "GMAIL.com", "daum.net", "hanmail.net", "nate.com", "kakao.com", "mail.naver.com"] {
            let refused = DomainName::parse_company_owned(portal);
            assert!(
                matches!(&refused, Err(e) if e.kind() == ErrorKind::Validation && e.rule() == Some("T2")),
                "{portal}: {refused:?}"
            );
            assert!(
                matches!(refused, Err(DomainError::Rule { error, .. }) if matches!(*error, DomainError::PublicPortalDomain(_)))
            );
        }
        assert_eq!(DomainName::parse_company_owned("acme.co.kr").unwrap().as_str(), "acme.co.kr");
        assert_eq!(DomainName::parse_company_owned("notnaver.com").unwrap().as_str(), "notnaver.com");
    }

    #[test]
    fn domains_are_lower_cased_and_idna_encoded() {
        assert_eq!(DomainName::parse(" Example.COM. ").unwrap().as_str(), "example.com");
        assert_eq!(DomainName::parse("회사.한국").unwrap().as_str(), "xn--vf4b131b.xn--3e0b707e");
        for bad in [
            "",
            " ",
            "localhost",
            "exa mple.com",
            "-acme.com",
            "acme-.com",
            "a..com",
            "1.2.3.4",
            "acme.com/x",
            "ac_me.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn one_domain_gives_one_tenant_id() {
        let a = DomainName::parse("Acme.com").unwrap();
        let b = DomainName::parse("acme.com").unwrap();
        assert_eq!(a.tenant_id(), b.tenant_id());
        assert_ne!(a.tenant_id(), DomainName::parse("acme.org").unwrap().tenant_id());
    }

    #[test]
    fn rule_t4_ids_are_local_parts() {
        assert_eq!(LoginId::parse(" Kim.Minsu ").unwrap().as_str(), "kim.minsu");
        for bad in ["", "kim@acme.com", ".kim", "kim.", "ki..m", "김민수", "a b", &"a".repeat(65)] {
            assert!(LoginId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_follow_the_policy() {
        let login = LoginId::parse("kim").unwrap();
        assert!(Password::parse("s3cret-pass", &login).is_ok());
        for bad in ["", "short1", "onlyletters", "1234567890", "kim12345678", &"a1".repeat(65)] {
            assert!(Password::parse(bad, &login).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_billing_cycles_and_time_zones_are_checked() {
        assert!(Name::parse("name", "  ").is_err());
        assert!(Name::parse("name", &"가".repeat(101)).is_err());
        assert_eq!(Name::parse("name", " 김민수 ").unwrap().as_str(), "김민수");
        for months in [1, 12, 24] {
            assert_eq!(BillingCycle::parse(months).unwrap().months() as i64, months);
        }
        for months in [0, 2, 6, 36, -1] {
            assert!(BillingCycle::parse(months).is_err());
        }
        assert_eq!(TimeZone::default().as_str(), "Asia/Seoul");
        assert_eq!(TimeZone::parse("Europe/Paris").unwrap().as_str(), "Europe/Paris");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }
}
