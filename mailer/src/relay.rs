//! The SMTP relay that external mail leaves through (lettre).

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Why a relay did not take a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reply}")]
pub struct RelayError {
    /// The relay's answer, or why it could not be reached.
    pub reply: String,
    /// A 5xx answer: trying again will not help.
    pub permanent: bool,
}

/// A configured relay.
#[derive(Clone)]
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Relay {
    /// A relay at `smtp://host:port` (plain, as to a local MTA; add
    /// `?tls=required` for STARTTLS) or `smtps://host:port` (TLS).
    ///
    /// # Errors
    /// A URL lettre does not accept.
    pub fn from_url(url: &str) -> Result<Self, RelayError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| RelayError { reply: format!("the relay URL `{url}` is not valid: {e}"), permanent: true })?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        Ok(Self { transport })
    }

    /// Hands `message` to the relay for `recipient`; the relay's answer.
    ///
    /// # Errors
    /// The relay's refusal, or that it could not be reached.
    pub async fn send(&self, from: &str, recipient: &str, message: &[u8]) -> Result<String, RelayError> {
        let parse = |a: &str| {
            a.parse().map_err(|e| RelayError {
                reply: format!("`{a}` is not an address the relay takes: {e}"),
                permanent: true,
            })
        };
        let envelope = Envelope::new(Some(parse(from)?), vec![parse(recipient)?])
            .map_err(|e| RelayError { reply: e.to_string(), permanent: true })?;
        match self.transport.send_raw(&envelope, message).await {
            Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
            Err(e) => Err(RelayError { reply: e.to_string(), permanent: e.is_permanent() }),
        }
    }
}
