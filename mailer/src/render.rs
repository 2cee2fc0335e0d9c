//! A mail as an RFC 5322 message (lettre's builder): an outgoing one for
//! the relay and the archive, a received one for the archive.

use chrono::{DateTime, Utc};
use domain::mail::message::Content;
use domain::mail::{IncomingMail, OutgoingMail, RecipientKind};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MessageBuilder, MultiPart, SinglePart};

/// The message for `mail`, with its attachments' bytes from `attachment`.
/// Bcc recipients never appear in it.
///
/// # Errors
/// An address or attachment lettre cannot render.
pub fn render(
    mail: &OutgoingMail,
    sent_at: DateTime<Utc>,
    attachment: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let mailbox = |a: &domain::mail::MailAddress| a.to_string().parse::<Mailbox>().map_err(|e| e.to_string());
    let mut builder = Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(mail.content.subject.clone())
        .date(sent_at.into())
        .message_id(Some(format!("<{}@{}>", mail.mail_id, mail.from.domain())));
    for recipient in &mail.recipients {
        builder = match recipient.kind {
            RecipientKind::To => builder.to(mailbox(&recipient.address)?),
            RecipientKind::Cc => builder.cc(mailbox(&recipient.address)?),
            RecipientKind::Bcc => builder,
        };
    }
    // The envelope is the relay's business; the headers only name To and Cc.
    let envelope = lettre::address::Envelope::new(
        Some(mail.from.to_string().parse().map_err(|e: lettre::address::AddressError| e.to_string())?),
        vec![mail.from.to_string().parse().map_err(|e: lettre::address::AddressError| e.to_string())?],
    )
    .map_err(|e| e.to_string())?;
    builder = builder.envelope(envelope);
    with_content(builder, &mail.content, attachment)
}

/// The message a received `mail` was, as far as its parsed parts tell:
/// its From, To and Cc as sent (one that is no address is kept as a name),
/// its subject, bodies and attachments (from `attachment`).
///
/// # Errors
/// An attachment lettre cannot render.
pub fn render_received(
    mail: &IncomingMail,
    received_at: DateTime<Utc>,
    attachment: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let mailbox = |shown: &str| {
        shown.parse::<Mailbox>().unwrap_or_else(|_| {
            Mailbox::new(Some(shown.to_owned()), "unknown@invalid".parse().expect("a valid address"))
        })
    };
    let mut builder = Message::builder()
        .from(mailbox(&mail.from))
        .subject(mail.content.subject.clone())
        .date(received_at.into())
        .message_id(Some(format!("<{}@received.invalid>", mail.mail_id)));
    for to in &mail.to {
        builder = builder.to(mailbox(to));
    }
    for cc in &mail.cc {
        builder = builder.cc(mailbox(cc));
    }
    // The envelope it came in is the MTA's, not in the message: a mail
    // that names no recipient (Bcc) still renders.
    let envelope = lettre::address::Envelope::new(
        Some(mailbox(&mail.from).email),
        vec!["undisclosed-recipients@invalid".parse().expect("a valid address")],
    )
    .map_err(|e| e.to_string())?;
    with_content(builder.envelope(envelope), &mail.content, attachment)
}

/// `builder`'s message with `content`'s bodies and attachments.
fn with_content(
    builder: MessageBuilder,
    content: &Content,
    attachment: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let text = content.text.clone();
    let body = match &content.html {
        Some(html) => MultiPart::alternative_plain_html(text, html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
    };
    let mut parts = MultiPart::mixed().multipart(body);
    for file in &content.attachments {
        let bytes = attachment(&file.sha256).ok_or_else(|| format!("attachment {} is missing", file.name))?;
        let content_type = ContentType::parse(&file.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
        parts = parts.singlepart(Attachment::new(file.name.clone()).body(bytes, content_type));
    }
    let message = builder.multipart(parts).map_err(|e| e.to_string())?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use domain::mail::message::Attachment;
    use mail_parser::MimeHeaders;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_received_mail_renders_as_the_message_it_was_with_its_attachments() {
        let content = Content {
            subject: "견적서 송부".into(),
            text: "첨부를 확인해 주세요".into(),
            html: None,
            attachments: vec![Attachment {
                name: "견적.pdf".into(),
                content_type: "application/pdf".into(),
                size: 4,
                sha256: "ab".into(),
            }],
        };
        let mail = IncomingMail {
            mail_id: Uuid::from_u128(1),
            from: "Park Ji <park@partner.org>".into(),
            to: vec!["kim@acme.kr".into()],
            cc: vec!["not an address".into()],
            content,
        };
        let at = "2026-11-26T09:00:00Z".parse().unwrap();
        let bytes = render_received(&mail, at, |sha| (sha == "ab").then(|| b"%PDF".to_vec())).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(bytes.as_slice()).unwrap();
        assert_eq!(parsed.subject(), Some("견적서 송부"));
        let from = parsed.from().and_then(|f| f.first()).unwrap();
        assert_eq!((from.name(), from.address()), (Some("Park Ji"), Some("park@partner.org")));
        assert_eq!(parsed.to().and_then(|t| t.first()).and_then(|a| a.address()), Some("kim@acme.kr"));
        // What is no address is kept as a name.
        assert_eq!(parsed.cc().and_then(|c| c.first()).and_then(|a| a.name()), Some("not an address"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("첨부를 확인해 주세요"));
        let attachment = parsed.attachment(0).unwrap();
        assert_eq!((attachment.attachment_name(), attachment.contents()), (Some("견적.pdf"), &b"%PDF"[..]));
        // An attachment the blob store does not hold is named.
        assert!(render_received(&mail, at, |_| None).unwrap_err().contains("견적.pdf"));
        // A mail that names no recipient (it came as Bcc) renders.
        let blind = IncomingMail { to: vec![], cc: vec![], ..mail };
        let bytes = render_received(&blind, at, |_| Some(b"%PDF".to_vec())).unwrap();
        assert!(mail_parser::MessageParser::default().parse(bytes.as_slice()).unwrap().to().is_none());
    }
}
