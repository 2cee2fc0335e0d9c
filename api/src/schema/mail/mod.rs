//! Webmail over GraphQL: composing, sending, scheduling, recalling, folders,
//! forwarding and the company's mail domains. A user reaches only their own
//! mailbox; no role reads another user's mail through this API.

mod mutation;
mod query;
pub mod types;

use std::collections::BTreeSet;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use commands::{AggregateHandle, Outcome, Reaction};
use domain::Actor;
use domain::mail::{
    Attachment, Content, MailAddress, Mailbox, MailboxAction, MailboxCommand, MailboxEvent, Recipient, RecipientKind,
};
use domain::values::{DomainName, TimeZone};
use mailer::Outbox;
use projections::projectors::mailboxes::{self, EntryRow};
use projections::projectors::{outbox, tenants, users};
use uuid::Uuid;

pub use mutation::MailMutation;
pub use query::MailQuery;
use types::{AttachmentInput, ComposeInput, Mail, MailSummary};

use super::Caller;
use crate::backend::{Backend, context};
use crate::capabilities::{Capability, Running, Starting, Worker, WorkerContext};
use crate::errors::{ApiError, ApiResult};
use crate::rest::{self, Download};

/// Webmail (rules E1–E8): the mailboxes, their reactions (scheduled send,
/// forwarding), the scheduled-send timers and the outbox.
pub(crate) fn capability() -> Capability {
    use domain::mail::{self, Mailbox};
    Capability {
        aggregates: vec![AggregateHandle::of::<Mailbox>()],
        projectors: vec![Arc::new(mailboxes::MailboxesProjector), Arc::new(outbox::OutboxProjector)],
        reactions: || vec![Reaction::remembering::<Mailbox, mail::reactions::Forwarders>(mail::reactions::react)],
        timers: vec![(mail::reactions::SCHEDULED_SEND, mail::reactions::on_scheduled_send)],
        workers: vec![OUTBOX],
        routes: Some(routes),
        ..Capability::new("mail")
    }
}

/// The outbox: external copies through the SMTP relay (rule E7).
const OUTBOX: Worker = Worker { name: "outbox", start: start_outbox };

fn start_outbox(context: WorkerContext) -> Starting {
    Box::pin(async move {
        // The copies waiting as the read model has them, and the position
        // it has them at (read first: the rows are at least that far).
        let at = context.read_models.checkpoint(projections::Projector::name(&outbox::OutboxProjector)).await?;
        let waiting = outbox::waiting(context.read_models.as_ref()).await?;
        let waiting = waiting
            .into_iter()
            .map(|w| mailer::WaitingCopy { position: w.position, mail_id: w.mail_id, address: w.address })
            .collect();
        let outbox = Outbox::start(context.commands, context.blobs, context.relay, (at, waiting)).await?;
        Ok(Running { handled: outbox.handled(), guard: Box::new(outbox) })
    })
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .service(rest::resource("/mail/{mail}/attachments/{sha256}", "GET").route(web::get().to(download_attachment)));
}

/// `GET /mail/{mail}/attachments/{sha256}`: a file of a mail in the caller's
/// mailbox, with the caller's bearer token.
async fn download_attachment(
    req: HttpRequest,
    backend: web::Data<Arc<Backend>>,
    path: web::Path<(Uuid, String)>,
) -> HttpResponse {
    let (mail, sha256) = path.into_inner();
    rest::download(&req, |token| async move { attachment(&backend, &token, mail, &sha256).await }).await
}

/// What mail needs to know of the caller's company.
pub(crate) struct CompanyDomains {
    pub primary: DomainName,
    /// The primary domain first, then the additional ones (rule T3).
    pub domains: Vec<DomainName>,
    pub time_zone: TimeZone,
}

impl CompanyDomains {
    pub(crate) async fn load(backend: &Backend, tenant: Uuid) -> ApiResult<Self> {
        let row = tenants::tenant(backend.read_models(), tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("company not found"))?;
        let domains = std::iter::once(row.domain.clone()).chain(row.additional_domains).collect();
        Ok(Self { primary: row.domain, domains, time_zone: row.time_zone })
    }

    pub(crate) fn owns(&self, domain: &DomainName) -> bool {
        self.domains.contains(domain)
    }

    /// The caller's address on `domain` (rule T3), the primary by default.
    fn sender_address(&self, login: &str, domain: Option<&str>) -> ApiResult<MailAddress> {
        let domain = match domain {
            None => self.primary.clone(),
            Some(d) => {
                let d = DomainName::parse(d).map_err(|e| field_error("fromDomain", &e.to_string()))?;
                if !self.owns(&d) {
                    return Err(field_error("fromDomain", &format!("{d} is not one of the company's domains")));
                }
                d
            }
        };
        Ok(MailAddress::of(login, &domain))
    }
}

fn field_error(field: &'static str, message: &str) -> ApiError {
    domain::DomainError::invalid(field, message).into()
}

/// Parses a list of addresses of one field.
fn parse_addresses(field: &'static str, list: &[String]) -> ApiResult<Vec<MailAddress>> {
    list.iter()
        .map(|a| {
            MailAddress::parse(a).map_err(|e| match e {
                domain::DomainError::Invalid { message, .. } => field_error(field, &message),
                other => other.into(),
            })
        })
        .collect()
}

/// The user an address of the company reaches: `x@any-of-its-domains` is
/// account `x` (rule T3).
pub(crate) async fn user_at(backend: &Backend, tenant: Uuid, address: &MailAddress) -> ApiResult<Option<Uuid>> {
    Ok(users::user(backend.read_models(), tenant, address.local()).await?.map(|user| user.id))
}

/// Resolves lists of addresses (each of one input field and recipient kind)
/// into recipients: addresses on the company's domains must name one of its
/// users; the rest are external. An address named twice counts once.
async fn resolve(
    backend: &Backend,
    tenant: Uuid,
    company: &CompanyDomains,
    lists: &[(&'static str, RecipientKind, &[String])],
) -> ApiResult<Vec<Recipient>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (field, kind, list) in lists {
        for address in parse_addresses(field, list)? {
            if !seen.insert(address.clone()) {
                continue;
            }
            let user = if company.owns(address.domain()) {
                let user = user_at(backend, tenant, &address).await?;
                Some(user.ok_or_else(|| {
                    field_error(field, &format!("{address}: the company has no user `{}`", address.local()))
                })?)
            } else {
                None
            };
            out.push(Recipient { address, kind: *kind, user });
        }
    }
    Ok(out)
}

/// The recipients of a composed mail: To, Cc and Bcc.
async fn recipients(
    backend: &Backend,
    tenant: Uuid,
    company: &CompanyDomains,
    input: &ComposeInput,
) -> ApiResult<Vec<Recipient>> {
    let lists = [
        ("to", RecipientKind::To, input.to.as_slice()),
        ("cc", RecipientKind::Cc, input.cc.as_slice()),
        ("bcc", RecipientKind::Bcc, input.bcc.as_slice()),
    ];
    resolve(backend, tenant, company, &lists).await
}

/// The content of a composed mail; attachments must have been uploaded.
async fn content(backend: &Backend, tenant: Uuid, input: &ComposeInput) -> ApiResult<Content> {
    let mut attachments = Vec::with_capacity(input.attachments.len());
    for attachment in &input.attachments {
        attachments.push(uploaded(backend, tenant, attachment).await?);
    }
    Ok(Content::parse(
        &input.subject,
        &input.text,
        input.html.as_deref(),
        attachments,
        backend.settings.attachment_limit,
    )?)
}

async fn uploaded(backend: &Backend, tenant: Uuid, input: &AttachmentInput) -> ApiResult<Attachment> {
    let size = backend
        .blobs
        .size(tenant, &input.id)
        .await
        .map_err(|e| match e {
            blobs::BlobError::BadDigest(_) => {
                field_error("attachments", &format!("`{}` is not an attachment id", input.id))
            }
            other => ApiError::internal(other),
        })?
        .ok_or_else(|| field_error("attachments", &format!("no uploaded file has the id {}", input.id)))?;
    Ok(Attachment {
        name: input.name.trim().to_owned(),
        content_type: input.content_type.clone(),
        size,
        sha256: input.id.clone(),
    })
}

/// Runs `action` on the caller's own mailbox.
async fn run(
    backend: &Backend,
    caller: &Caller,
    command_id: Option<Uuid>,
    client: Option<String>,
    action: MailboxAction,
) -> ApiResult<Outcome<MailboxEvent>> {
    let context = context(command_id, Actor::User(caller.user.id), caller.tenant, client);
    backend.execute::<Mailbox>(caller.user.id, &context, MailboxCommand { owner: caller.user.id, action }).await
}

/// The caller's entry for `mail`, or `NOT_FOUND`.
async fn own_entry(backend: &Backend, caller: &Caller, mail: Uuid) -> ApiResult<EntryRow> {
    mailboxes::entry(backend.read_models(), caller.tenant, caller.user.id, mail)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("mail {mail}")))
}

/// The caller's entry for `mail` as a summary, or `NOT_FOUND`.
async fn own_summary(backend: &Backend, caller: &Caller, mail: Uuid) -> ApiResult<MailSummary> {
    Ok(MailSummary::new(caller.tenant, own_entry(backend, caller, mail).await?))
}

/// A mail of the caller's mailbox in full, or `NOT_FOUND`.
async fn full_mail(backend: &Backend, caller: &Caller, mail: Uuid) -> ApiResult<Mail> {
    let entry = own_entry(backend, caller, mail).await?;
    let row = mailboxes::mail(backend.read_models(), caller.tenant, mail)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("mail {mail}")))?;
    Ok(Mail::new(caller.tenant, caller.user.id, row, &entry))
}

/// A file of a mail in the token's user's mailbox, opened for reading.
///
/// # Errors
/// `UNAUTHENTICATED` for a bad token; `NOT_FOUND` unless the user's mailbox
/// holds the mail and the mail the file.
async fn attachment(backend: &Backend, token: &str, mail: Uuid, sha256: &str) -> ApiResult<Download> {
    let caller = super::authenticate(backend, token).await?;
    let not_found = || ApiError::not_found(format!("attachment {sha256} of mail {mail}"));
    let full = full_mail(backend, &caller, mail).await?;
    let info = full.attachments.into_iter().find(|a| a.id == sha256).ok_or_else(not_found)?;
    let blob = backend.blobs.open(caller.tenant, sha256).await.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    // A name or type stored before they were checked may not fit a header:
    // the name is made safe and the file served as bytes rather than failing.
    Ok(Download {
        name: domain::mail::safe_file_name(&info.name),
        content_type: domain::mail::media_type(&info.content_type)
            .unwrap_or_else(|_| domain::mail::OCTET_STREAM.into()),
        blob,
    })
}
