//! What a mail is made of: its content, attachments, recipients and the
//! folders it can sit in.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MailAddress;
use crate::DomainError;

/// The longest subject (RFC 5322's line limit).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// The most the plain-text and HTML bodies of one mail may hold together.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// The default limit of a mail's attachments, in bytes (25 MB).
pub const DEFAULT_ATTACHMENT_LIMIT: u64 = 25 * 1000 * 1000;

/// The longest file name of an attachment, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Whether `c` may not be part of a file name: a path separator, or a
/// control character (which would end a `Content-Disposition` header).
fn unfit_for_file_name(c: char) -> bool {
    c == '/' || c == '\\' || c.is_control()
}

/// Checks a file name: not empty, at most [`MAX_FILE_NAME_BYTES`], no path
/// separator and no control character (CR, LF, tab, NUL, ...). Returns it
/// trimmed.
///
/// # Errors
/// [`DomainError::Invalid`] (field `attachments`) for anything else.
pub fn file_name(input: &str) -> Result<String, DomainError> {
    let name = input.trim();
    if name.is_empty() || name.len() > MAX_FILE_NAME_BYTES || name.contains(unfit_for_file_name) {
        let shown: String = name.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect();
        return Err(DomainError::invalid("attachments", format!("`{shown}` is not a file name")));
    }
    Ok(name.to_owned())
}

/// A file name from outside (an inbound message, a name stored before the
/// check) made to pass [`file_name`]: the last path segment, control
/// characters as `_`, cut to the limit; `attachment` when nothing is left.
pub fn safe_file_name(input: &str) -> String {
    let last = input.rsplit(['/', '\\']).find(|s| !s.trim().is_empty()).unwrap_or_default();
    let replaced: String = last.chars().map(|c| if unfit_for_file_name(c) { '_' } else { c }).collect();
    let mut name = replaced.trim();
    while name.len() > MAX_FILE_NAME_BYTES {
        let mut cut = MAX_FILE_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = name[..cut].trim_end();
    }
    if name.is_empty() { "attachment".to_owned() } else { name.to_owned() }
}

/// The longest media type of an attachment, parameters included.
pub const MAX_MEDIA_TYPE_CHARS: usize = 255;
/// The media type of a file when nothing better is known.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A character of an RFC 2045 token.
fn token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// The length of the token at the start of `s`.
fn token_len(s: &str) -> usize {
    s.find(|c| !token_char(c)).unwrap_or(s.len())
}

/// Checks a media type (RFC 2045 / 6838): `type/subtype` of tokens,
/// optionally followed by `; name=value` parameters (values are tokens or
/// quoted strings), printable ASCII only, at most
/// [`MAX_MEDIA_TYPE_CHARS`] characters. Returns it trimmed, its type and
/// subtype lower-cased. It ends up in a `Content-Type` header of downloads
/// and outgoing mail, so no control character (CR, LF, NUL) gets through.
///
/// # Errors
/// [`DomainError::Invalid`] (field `attachments`) for anything else.
pub fn media_type(input: &str) -> Result<String, DomainError> {
    let invalid = || {
        let shown: String = input.chars().take(40).filter(|c| !c.is_control()).collect();
        DomainError::invalid(
            "attachments",
            format!("`{shown}` is not a media type (type/subtype, at most {MAX_MEDIA_TYPE_CHARS} characters)"),
        )
    };
    let trimmed = input.trim_matches(' ');
    if trimmed.len() > MAX_MEDIA_TYPE_CHARS || !trimmed.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err(invalid());
    }
    let type_len = token_len(trimmed);
    let rest = &trimmed[type_len..];
    let subtype_len = rest.strip_prefix('/').map_or(0, token_len);
    if type_len == 0 || subtype_len == 0 {
        return Err(invalid());
    }
    let essence_len = type_len + 1 + subtype_len;
    let mut params = &trimmed[essence_len..];
    loop {
        params = params.trim_start_matches(' ');
        let Some(param) = params.strip_prefix(';') else { break };
        let param = param.trim_start_matches(' ');
        if param.is_empty() {
            params = param;
            break;
        }
        let name_len = token_len(param);
        let value = param[name_len..].strip_prefix('=').filter(|_| name_len > 0).ok_or_else(invalid)?;
        let value_len = match value.strip_prefix('"') {
            Some(quoted) => {
                let mut escaped = false;
                let end = quoted
                    .char_indices()
                    .find(|&(_, c)| {
                        let closes = c == '"' && !escaped;
                        escaped = c == '\\' && !escaped;
                        closes
                    })
                    .map(|(i, _)| i)
                    .ok_or_else(invalid)?;
                end + 2
            }
            None => token_len(value),
        };
        if value_len == 0 {
            return Err(invalid());
        }
        params = &value[value_len..];
    }
    if !params.is_empty() {
        return Err(invalid());
    }
    Ok(format!("{}{}", trimmed[..essence_len].to_ascii_lowercase(), &trimmed[essence_len..]))
}

/// A file attached to a mail; its bytes live in the blob store under its
/// SHA-256 digest, never in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// The subject, bodies and attachments of a mail, within their limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl Content {
    /// Checks the limits: the subject's length, the bodies' size, and the
    /// attachments' total size against `attachment_limit` bytes.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for a subject with a line break or over its
    /// length, a bad file name or media type ([`media_type`]);
    /// [`DomainError::LimitExceeded`] for bodies or attachments over their
    /// limits.
    pub fn parse(
        subject: &str,
        text: &str,
        html: Option<&str>,
        mut attachments: Vec<Attachment>,
        attachment_limit: u64,
    ) -> Result<Self, DomainError> {
        let subject = subject.trim();
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(DomainError::invalid(
                "subject",
                format!("a subject has at most {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        if subject.contains(['\r', '\n']) {
            return Err(DomainError::invalid("subject", "a subject is one line"));
        }
        if text.len() + html.map_or(0, str::len) > MAX_BODY_BYTES {
            return Err(DomainError::LimitExceeded(format!(
                "the body of a mail holds at most {} KiB",
                MAX_BODY_BYTES / 1024
            )));
        }
        let total: u64 = attachments.iter().map(|a| a.size).sum();
        if total > attachment_limit {
            return Err(DomainError::LimitExceeded(format!(
                "the attachments of a mail total at most {attachment_limit} bytes; these total {total}"
            )));
        }
        for attachment in &mut attachments {
            attachment.name = file_name(&attachment.name)?;
            attachment.content_type = media_type(&attachment.content_type)?;
        }
        Ok(Self { subject: subject.to_owned(), text: text.to_owned(), html: html.map(str::to_owned), attachments })
    }

    /// The first words of the plain-text body, for lists.
    pub fn snippet(&self) -> String {
        const SNIPPET_CHARS: usize = 100;
        let words: Vec<&str> = self.text.split_whitespace().collect();
        let joined = words.join(" ");
        match joined.char_indices().nth(SNIPPET_CHARS) {
            Some((cut, _)) => format!("{}…", &joined[..cut]),
            None => joined,
        }
    }
}

/// Where a recipient appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipientKind {
    To,
    Cc,
    /// Seen only by the sender.
    Bcc,
}

impl RecipientKind {
    /// The name it is stored and shown with.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::To => "to",
            RecipientKind::Cc => "cc",
            RecipientKind::Bcc => "bcc",
        }
    }
}

/// A recipient of a sent mail; `user` is set for the tenant's own users
/// (internal recipients), who get the mail in their inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recipient {
    pub address: MailAddress,
    pub kind: RecipientKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Uuid>,
}

impl Recipient {
    pub fn is_internal(&self) -> bool {
        self.user.is_some()
    }
}

/// A mail as it leaves its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingMail {
    pub mail_id: Uuid,
    pub from: MailAddress,
    pub recipients: Vec<Recipient>,
    pub content: Content,
    /// The draft this mail was sent from, which it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<Uuid>,
}

impl OutgoingMail {
    pub fn internal_users(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.recipients.iter().filter_map(|r| r.user)
    }

    pub fn external(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| r.user.is_none())
    }
}

/// A mail not yet sent, as its author keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub bcc: Vec<MailAddress>,
    pub content: Content,
}

/// How many recipient deliveries a user has used on one day (rule E1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuotaUse {
    pub day: NaiveDate,
    pub deliveries: u32,
}

/// A folder of a mailbox (rule E8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema)]
#[schemars(with = "String")]
pub enum Folder {
    Inbox,
    Sent,
    Drafts,
    Scheduled,
    Trash,
    /// A folder the user made.
    User(Uuid),
}

impl Folder {
    pub const SYSTEM: [Folder; 5] = [Folder::Inbox, Folder::Sent, Folder::Drafts, Folder::Scheduled, Folder::Trash];

    /// The name a system folder is shown with; `None` for user folders.
    pub fn system_name(self) -> Option<&'static str> {
        match self {
            Folder::Inbox => Some("Inbox"),
            Folder::Sent => Some("Sent"),
            Folder::Drafts => Some("Drafts"),
            Folder::Scheduled => Some("Scheduled"),
            Folder::Trash => Some("Trash"),
            Folder::User(_) => None,
        }
    }

    /// Whether mail may be moved into this folder by hand: drafts and
    /// scheduled mail have their own lifecycle.
    pub fn accepts_moves(self) -> bool {
        !matches!(self, Folder::Drafts | Folder::Scheduled)
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Folder::Inbox => f.write_str("inbox"),
            Folder::Sent => f.write_str("sent"),
            Folder::Drafts => f.write_str("drafts"),
            Folder::Scheduled => f.write_str("scheduled"),
            Folder::Trash => f.write_str("trash"),
            Folder::User(id) => write!(f, "{id}"),
        }
    }
}

impl FromStr for Folder {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inbox" => Ok(Folder::Inbox),
            "sent" => Ok(Folder::Sent),
            "drafts" => Ok(Folder::Drafts),
            "scheduled" => Ok(Folder::Scheduled),
            "trash" => Ok(Folder::Trash),
            other => Uuid::parse_str(other)
                .map(Folder::User)
                .map_err(|_| DomainError::invalid("folder", format!("`{other}` is not a folder"))),
        }
    }
}

impl Serialize for Folder {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Folder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(size: u64) -> Attachment {
        Attachment { name: "a.pdf".into(), content_type: "application/pdf".into(), size, sha256: "00".repeat(32) }
    }

    #[test]
    fn attachments_may_total_the_limit_and_no_more() {
        let limit = DEFAULT_ATTACHMENT_LIMIT;
        assert!(Content::parse("s", "", None, vec![attachment(limit - 1), attachment(1)], limit).is_ok());
        assert!(matches!(
            Content::parse("s", "", None, vec![attachment(limit), attachment(1)], limit),
            Err(DomainError::LimitExceeded(_))
        ));
    }

    #[test]
    fn media_types_are_type_slash_subtype_with_parameters_and_nothing_else() {
        for (given, kept) in [
            ("application/pdf", "application/pdf"),
            (" Text/HTML ; charset=UTF-8", "text/html ; charset=UTF-8"),
            ("text/plain; charset=\"utf-8\"; format=flowed;", "text/plain; charset=\"utf-8\"; format=flowed;"),
            (
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            ("text/plain; name=\"a \\\" b\"", "text/plain; name=\"a \\\" b\""),
        ] {
            assert_eq!(media_type(given).as_deref(), Ok(kept), "{given}");
        }
        let long = format!("application/{}", "x".repeat(MAX_MEDIA_TYPE_CHARS));
        for bad in [
            "",
            "pdf",
            "/pdf",
            "application/",
            "text/plain\r\nX-Injected: 1",
            "text/plain\0",
            "text\t/plain",
            "text/pl ain",
            "text/plain; charset",
            "text/plain; =utf-8",
            "text/plain; name=\"open",
            "a/b/c",
            "텍스트/plain",
            long.as_str(),
        ] {
            assert!(matches!(media_type(bad), Err(DomainError::Invalid { field: "attachments", .. })), "{bad:?}");
        }
        let mut crlf = attachment(1);
        crlf.content_type = "text/plain\r\nX-Injected: 1".into();
        assert!(Content::parse("s", "", None, vec![crlf], 10).is_err());
    }

    #[test]
    fn file_names_are_one_line_without_path_and_outside_ones_are_made_so() {
        assert_eq!(file_name(" 보고서 (최종).pdf ").as_deref(), Ok("보고서 (최종).pdf"));
        for bad in ["", "  ", "a/b.pdf", "a\\b.pdf", "a\r\nX: 1.pdf", "a\0.pdf", "a\t.pdf", &"x".repeat(256)] {
            assert!(matches!(file_name(bad), Err(DomainError::Invalid { field: "attachments", .. })), "{bad:?}");
        }
        for (outside, safe) in [
            ("../../etc/\\pass\twd.pdf", "pass_wd.pdf"),
            ("report.pdf/", "report.pdf"),
            ("a\r\nX: 1.pdf", "a__X: 1.pdf"),
            ("///", "attachment"),
            ("", "attachment"),
        ] {
            assert_eq!(safe_file_name(outside), safe, "{outside:?}");
            assert!(file_name(&safe_file_name(outside)).is_ok());
        }
        let long = "가".repeat(200);
        assert!(safe_file_name(&long).len() <= MAX_FILE_NAME_BYTES);
        assert!(file_name(&safe_file_name(&long)).is_ok());
    }

    #[test]
    fn bodies_over_the_limit_are_refused() {
        let text = "a".repeat(MAX_BODY_BYTES);
        assert!(Content::parse("s", &text, None, vec![], 0).is_ok());
        assert!(matches!(Content::parse("s", &text, Some("b"), vec![], 0), Err(DomainError::LimitExceeded(_))));
    }

    #[test]
    fn a_subject_is_one_line() {
        assert!(matches!(
            Content::parse("a\nb", "", None, vec![], 0),
            Err(DomainError::Invalid { field: "subject", .. })
        ));
    }

    #[test]
    fn the_snippet_is_the_first_words() {
        let content = Content::parse("s", "Hello\n\n  world", None, vec![], 0).unwrap();
        assert_eq!(content.snippet(), "Hello world");
        let long = Content::parse("s", &"word ".repeat(100), None, vec![], 0).unwrap();
        assert_eq!(long.snippet().chars().count(), 101);
    }

    #[test]
    fn folders_round_trip_as_text() {
        let id = Uuid::from_u128(7);
        for folder in [Folder::Inbox, Folder::Trash, Folder::User(id)] {
            assert_eq!(folder.to_string().parse::<Folder>().unwrap(), folder);
        }
        assert!("junk".parse::<Folder>().is_err());
    }
}
