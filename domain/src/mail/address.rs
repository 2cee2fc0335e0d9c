//! Mail addresses: `local@domain`, normalised to lower case.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::values::DomainName;

/// The longest local part RFC 5321 allows.
const MAX_LOCAL: usize = 64;
/// The longest address RFC 5321 allows in a path.
const MAX_ADDRESS: usize = 254;

/// A mail address, lower-case, with an IDNA (punycode) domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct MailAddress {
    local: String,
    domain: DomainName,
}

impl MailAddress {
    /// Parses `local@domain` (surrounding spaces and angle brackets allowed).
    ///
    /// # Errors
    /// [`DomainError::Invalid`] on the field `address` for anything else.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim().trim_start_matches('<').trim_end_matches('>').trim();
        let bad =
            |why: &str| DomainError::invalid("address", format!("`{}` is not a mail address: {why}", input.trim()));
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(|| bad("it has no @"))?;
        if local.is_empty() || local.len() > MAX_LOCAL {
            return Err(bad("the part before @ must have 1 to 64 characters"));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.chars().all(|c| c == '.' || atext(c))
        {
            return Err(bad("the part before @ holds a character that is not allowed"));
        }
        let domain = DomainName::parse(domain).map_err(|_| bad("the part after @ is not a domain name"))?;
        if local.len() + 1 + domain.as_str().len() > MAX_ADDRESS {
            return Err(bad("it is longer than 254 characters"));
        }
        Ok(Self { local: local.to_ascii_lowercase(), domain })
    }

    /// An address of `domain` with the given local part (already a valid ID).
    pub fn of(local: &str, domain: &DomainName) -> Self {
        Self { local: local.to_ascii_lowercase(), domain: domain.clone() }
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

impl fmt::Display for MailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl TryFrom<String> for MailAddress {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MailAddress> for String {
    fn from(value: MailAddress) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_normalises_case_and_brackets() {
        let address = MailAddress::parse(" <Kim.Ji@Example.COM> ").unwrap();
        assert_eq!(address.to_string(), "kim.ji@example.com");
        assert_eq!(address.local(), "kim.ji");
    }

    #[test]
    fn it_refuses_malformed_addresses() {
        for bad in [
            "",
            "kim",
            "@example.com",
            "kim@",
            "kim@@example.com",
            "ki m@example.com",
            ".kim@example.com",
            "kim..ji@example.com",
            "kim@localhost",
        ] {
            assert!(matches!(MailAddress::parse(bad), Err(DomainError::Invalid { field: "address", .. })), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(MailAddress::parse(&long).is_err());
    }

    #[test]
    fn it_round_trips_through_json() {
        let address = MailAddress::parse("lee@example.co.kr").unwrap();
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(json, "\"lee@example.co.kr\"");
        assert_eq!(serde_json::from_str::<MailAddress>(&json).unwrap(), address);
    }
}
