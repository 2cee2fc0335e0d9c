//! `POST /inbound`: the tenant's mail transfer agent hands over a raw RFC 5322
//! message for the tenant's users, authenticated with the shared secret.
//!
//! The envelope recipients come as repeated `to` query parameters (the To
//! and Cc headers when there are none). Every recipient must be a user of a
//! tenant served here, else nothing is delivered and the answer names the
//! unknown ones with an SMTP reply the MTA can bounce with. A retry of the
//! same message (same Message-ID) for the same user delivers it once.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use commands::CommandContext;
use domain::Actor;
use domain::mail::{Attachment, Content, IncomingMail, MailAddress, Mailbox, MailboxAction, MailboxCommand};
use mailer::inbound::{InboundMessage, parse};
use projections::projectors::tenants;
use serde_json::json;
use uuid::Uuid;

use crate::backend::Backend;
use crate::errors::{ApiError, ApiResult, Code};
use crate::schema::mail::user_at;

/// An error in the API's one shape; `extra` joins the code in
/// `extensions` (SMTP replies the MTA can bounce with).
fn answer(status: StatusCode, code: Code, message: &str, extra: serde_json::Value) -> HttpResponse {
    let extra = match extra {
        serde_json::Value::Object(extra) => extra,
        _ => serde_json::Map::new(),
    };
    HttpResponse::build(status).json(crate::rest::error_body(code, message, extra))
}

fn failure(e: &ApiError) -> HttpResponse {
    answer(e.code.http_status(), e.code, &e.message, json!({}))
}

/// A user of a tenant served here.
struct Addressee {
    tenant: Uuid,
    user: Uuid,
    address: String,
}

pub async fn receive(req: HttpRequest, backend: web::Data<Arc<Backend>>, payload: web::Payload) -> HttpResponse {
    let Some(secret) = &backend.settings.inbound_secret else {
        return answer(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "inbound mail is switched off on this server: no inbound secret is configured",
            json!({}),
        );
    };
    if crate::rest::authorization_bearer(&req) != Some(secret.as_str()) {
        return answer(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "send the inbound secret as a bearer token",
            json!({}),
        );
    }
    let limit = backend
        .settings
        .max_body_bytes
        .saturating_add(usize::try_from(backend.settings.attachment_limit).unwrap_or(usize::MAX));
    let body = match crate::rest::read_body(&req, payload, limit).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    let message = match parse(&body) {
        Ok(message) => message,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                Code::Validation,
                &e.to_string(),
                json!({ "smtp": "554 5.6.0 malformed message" }),
            );
        }
    };
    let envelope: Vec<String> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner().into_iter().filter(|(k, _)| k == "to").map(|(_, v)| v).collect())
        .unwrap_or_default();
    let addressed = if envelope.is_empty() { message.addressed.clone() } else { envelope };
    match deliver(&backend, &message, &addressed).await {
        Ok(Ok(delivered)) => HttpResponse::Ok().json(json!({ "delivered": delivered })),
        Ok(Err(unknown)) => {
            let replies: Vec<_> = unknown
                .iter()
                .map(|a| json!({ "address": a, "smtp": format!("550 5.1.1 <{a}>: no such user here") }))
                .collect();
            answer(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "some recipients are not users here; nothing was delivered",
                json!({ "recipients": replies }),
            )
        }
        Err(e) => failure(&e),
    }
}

/// Delivers to every recipient, or to none: `Ok(Err(unknown))` names the
/// recipients that are not users here.
async fn deliver(
    backend: &Backend,
    message: &InboundMessage,
    addressed: &[String],
) -> ApiResult<Result<Vec<String>, Vec<String>>> {
    if addressed.is_empty() {
        return Err(ApiError::new(Code::Validation, "the message names no recipient"));
    }
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for raw in addressed {
        let Ok(address) = MailAddress::parse(raw) else {
            unknown.push(raw.clone());
            continue;
        };
        match resolve(backend, &address).await? {
            Some(mailbox) if !found.iter().any(|f: &Addressee| f.user == mailbox.user) => found.push(mailbox),
            Some(_) => {}
            None => unknown.push(address.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Ok(Err(unknown));
    }
    let limit = backend.settings.attachment_limit;
    let total: u64 = message.attachments.iter().map(|a| a.bytes.len() as u64).sum();
    if total > limit {
        return Err(ApiError::new(
            Code::LimitExceeded,
            format!("the attachments total {total} bytes; at most {limit} are taken"),
        ));
    }
    let mail_id = Uuid::now_v7();
    let mut delivered = Vec::new();
    for mailbox in found {
        let mut attachments = Vec::new();
        for file in &message.attachments {
            let stored =
                backend.blobs.put(mailbox.tenant, &mut &file.bytes[..], limit).await.map_err(ApiError::internal)?;
            attachments.push(Attachment {
                name: file.name.clone(),
                content_type: file.content_type.clone(),
                size: stored.size,
                sha256: stored.sha256,
            });
        }
        let content =
            Content::parse(&truncated(&message.subject), &message.text, message.html.as_deref(), attachments, limit)?;
        let mail = IncomingMail {
            mail_id,
            from: message.from.clone(),
            to: message.to.clone(),
            cc: message.cc.clone(),
            content,
        };
        let command_id = match &message.message_id {
            Some(id) => Uuid::new_v5(&mailbox.user, id.as_bytes()),
            None => Uuid::now_v7(),
        };
        let context = CommandContext::new(command_id, Actor::System, Some(mailbox.tenant));
        let command = MailboxCommand { owner: mailbox.user, action: MailboxAction::Receive { mail } };
        backend.execute::<Mailbox>(mailbox.user, &context, command).await?;
        delivered.push(mailbox.address);
    }
    Ok(Ok(delivered))
}

/// Subjects longer than a line are cut rather than refused.
fn truncated(subject: &str) -> String {
    subject.chars().take(domain::mail::message::MAX_SUBJECT_CHARS).collect()
}

async fn resolve(backend: &Backend, address: &MailAddress) -> ApiResult<Option<Addressee>> {
    let holder = tenants::domain_holder(backend.read_models(), address.domain()).await?;
    let Some(tenant) = holder.map(|h| h.tenant_id) else { return Ok(None) };
    Ok(user_at(backend, tenant, address).await?.map(|user| Addressee { tenant, user, address: address.to_string() }))
}
