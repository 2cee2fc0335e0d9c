//! Inbound mail: a raw RFC 5322 message from the tenant's mail transfer
//! agent, parsed with mail-parser.

use domain::mail::{OCTET_STREAM, media_type, safe_file_name};
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};

/// Why a message cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is not an RFC 5322 message: {0}")]
    Malformed(&'static str),
}

/// A file attached to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    /// A valid file name ([`domain::mail::safe_file_name`] of the message's).
    pub name: String,
    /// A valid media type ([`domain::mail::media_type`]); `application/
    /// octet-stream` when the message's is missing or malformed.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the parser read from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The From header as written (name and address).
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// The addresses of To and Cc, for delivery when the MTA names no
    /// envelope recipients.
    pub addressed: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    /// The Message-ID header, by which a retried message is recognised.
    pub message_id: Option<String>,
}

fn shown(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .map(|addr| match (addr.name(), addr.address()) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_owned(),
                    (Some(name), None) => name.to_owned(),
                    (None, None) => String::new(),
                })
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address.map(|a| a.iter().filter_map(|addr| addr.address().map(str::to_owned)).collect()).unwrap_or_default()
}

/// Parses `raw`.
///
/// # Errors
/// An empty message, or one without headers or a From address.
pub fn parse(raw: &[u8]) -> Result<InboundMessage, InboundError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InboundError::Empty);
    }
    let message = MessageParser::default().parse(raw).ok_or(InboundError::Malformed("it has no headers"))?;
    if message.headers().is_empty() {
        return Err(InboundError::Malformed("it has no headers"));
    }
    let from = shown(message.from()).into_iter().next().ok_or(InboundError::Malformed("it has no From address"))?;
    if addresses(message.from()).is_empty() {
        return Err(InboundError::Malformed("its From header holds no address"));
    }
    let mut addressed = addresses(message.to());
    addressed.extend(addresses(message.cc()));
    let attachments = message
        .attachments()
        .map(|part| InboundAttachment {
            name: safe_file_name(part.attachment_name().unwrap_or_default()),
            content_type: part
                .content_type()
                .and_then(|ct| ct.subtype().and_then(|sub| media_type(&format!("{}/{sub}", ct.ctype())).ok()))
                .unwrap_or_else(|| OCTET_STREAM.into()),
            bytes: part.contents().to_vec(),
        })
        .collect();
    Ok(InboundMessage {
        from,
        to: shown(message.to()),
        cc: shown(message.cc()),
        addressed,
        subject: message.subject().unwrap_or_default().replace(['\r', '\n'], " "),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        // mail-parser turns a plain body into HTML when asked; only a real
        // HTML part counts.
        html: message
            .html_bodies()
            .next()
            .filter(|part| matches!(part.body, PartType::Html(_)))
            .and_then(|_| message.body_html(0))
            .map(|h| h.into_owned()),
        attachments,
        message_id: message.message_id().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "From: Park Ji <park@partner.org>\r\nTo: kim@acme.kr, Lee <lee@acme.kr>\r\nCc: choi@acme.kr\r\nSubject: Quarterly report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the report attached.\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b1--\r\n";

    #[test]
    fn it_reads_headers_bodies_and_attachments() {
        let message = parse(RAW.as_bytes()).unwrap();
        assert_eq!(message.from, "Park Ji <park@partner.org>");
        assert_eq!(message.to, ["kim@acme.kr", "Lee <lee@acme.kr>"]);
        assert_eq!(message.addressed, ["kim@acme.kr", "lee@acme.kr", "choi@acme.kr"]);
        assert_eq!(message.subject, "Quarterly report");
        assert_eq!(message.text.trim(), "Please find the report attached.");
        assert_eq!(message.attachments.len(), 1);
        assert_eq!(message.attachments[0].name, "report.pdf");
        assert_eq!(message.attachments[0].content_type, "application/pdf");
        assert_eq!(message.attachments[0].bytes, b"%PDF-1.4");
    }

    // A malformed media type is not kept: the file is taken as bytes.
    #[test]
    fn an_attachment_with_a_malformed_media_type_is_an_octet_stream() {
        let raw = RAW.replace("Content-Type: application/pdf", "Content-Type: app<li>cation/p\"df\"");
        let message = parse(raw.as_bytes()).unwrap();
        assert_eq!(message.attachments[0].content_type, OCTET_STREAM);
        assert_eq!(message.attachments[0].bytes, b"%PDF-1.4");
    }

    #[test]
    fn it_refuses_what_is_not_a_message() {
        assert_eq!(parse(b""), Err(InboundError::Empty));
        assert!(parse(b"just some words without any header").is_err());
        assert!(parse(b"Subject: no sender\r\n\r\nbody").is_err());
    }
}
