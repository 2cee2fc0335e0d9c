//! An outgoing mail as an RFC 5322 message (lettre's builder).

use chrono::{DateTime, Utc};
use domain::mail::{OutgoingMail, RecipientKind};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

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
    let text = mail.content.text.clone();
    let body = match &mail.content.html {
        Some(html) => MultiPart::alternative_plain_html(text, html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
    };
    let mut parts = MultiPart::mixed().multipart(body);
    for file in &mail.content.attachments {
        let bytes = attachment(&file.sha256).ok_or_else(|| format!("attachment {} is missing", file.name))?;
        let content_type = ContentType::parse(&file.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
        parts = parts.singlepart(Attachment::new(file.name.clone()).body(bytes, content_type));
    }
    let message = builder.multipart(parts).map_err(|e| e.to_string())?;
    Ok(message.formatted())
}
