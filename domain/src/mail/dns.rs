//! Rule T3: the DNS records a tenant's mail domain needs.

use serde::Serialize;

use crate::values::DomainName;

/// One record to set at the domain's DNS provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    /// `MX`, `TXT` or `CNAME`.
    pub kind: &'static str,
    pub name: String,
    pub value: String,
    /// For MX records.
    pub priority: Option<u16>,
}

/// The records that route `domain`'s mail to `mail_host` (the service's
/// mail server): MX, an SPF TXT record that lets it send for the domain, and
/// a CNAME `mail.` for webmail.
pub fn records(domain: &DomainName, mail_host: &str) -> Vec<DnsRecord> {
    vec![
        DnsRecord { kind: "MX", name: domain.to_string(), value: format!("{mail_host}."), priority: Some(10) },
        DnsRecord {
            kind: "TXT",
            name: domain.to_string(),
            value: format!("v=spf1 include:{mail_host} ~all"),
            priority: None,
        },
        DnsRecord { kind: "CNAME", name: format!("mail.{domain}"), value: format!("{mail_host}."), priority: None },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    // rule T3
    #[test]
    fn rule_t3_each_domain_needs_mx_spf_and_a_mail_cname() {
        let domain = DomainName::parse("acme.kr").unwrap();
        let records = records(&domain, "mx.groupware.example");
        let kinds: Vec<_> = records.iter().map(|r| (r.kind, r.name.as_str())).collect();
        assert_eq!(kinds, [("MX", "acme.kr"), ("TXT", "acme.kr"), ("CNAME", "mail.acme.kr")]);
        assert_eq!(records[1].value, "v=spf1 include:mx.groupware.example ~all");
    }
}
