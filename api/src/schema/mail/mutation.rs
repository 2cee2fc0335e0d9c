//! Webmail mutations: each is a command on the caller's own mailbox (or, for
//! domains and admin forwarding, on the company).

use std::collections::BTreeSet;

use async_graphql::{Context, Object, Result, Upload};
use chrono::{DateTime, Utc};
use domain::Actor;
use domain::mail::{Draft, Folder, Forwarding, MailboxAction, MailboxEvent, OutgoingMail, RecipientKind, ResetOffer};
use domain::registry::DomainHolder;
use domain::tenant::{Tenant, TenantCommand};
use domain::values::DomainName;
use projections::projectors::mailboxes::{self, RecipientTracking};
use uuid::Uuid;

use super::query::{mail_domain, own_folder};
use super::types::{
    AttachmentInfo, ComposeInput, Mail, MailDomain, MailFolder, MailForwarding, MailSummary, RecallResult,
};
use super::{
    CompanyDomains, content, field_error, full_mail, own_entry, own_summary, parse_addresses, recipients, resolve, run,
};
use crate::backend::context;
use crate::errors::{ApiError, ApiResult, Code};
use crate::schema::{Caller, backend, caller, load_user, request};

/// The most mails one move or deletion names.
const MAX_BATCH: usize = 1000;

#[derive(Default)]
pub struct MailMutation;

fn client(ctx: &Context<'_>) -> Option<String> {
    request(ctx).and_then(|r| r.client_address.clone())
}

#[Object]
impl MailMutation {
    /// Sends a mail now, or at `sendAt` (rule E2). At most 100 recipients
    /// (rule E1) and 500 recipient deliveries a day; over the daily limit the
    /// send is refused with `LIMIT_EXCEEDED` and the caller's inbox gets a
    /// notice with a one-time reset token. `draftId` sends a saved draft,
    /// which it replaces.
    async fn send_mail(
        &self,
        ctx: &Context<'_>,
        input: ComposeInput,
        draft_id: Option<Uuid>,
        send_at: Option<DateTime<Utc>>,
        command_id: Option<Uuid>,
    ) -> Result<Mail> {
        let caller = caller(ctx).await?;
        Ok(send_mail(ctx, &caller, input, draft_id, send_at, command_id).await?)
    }

    /// Saves a draft: a new one without `id`, else replaces draft `id`.
    async fn save_draft(
        &self,
        ctx: &Context<'_>,
        input: ComposeInput,
        id: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<Mail> {
        let caller = caller(ctx).await?;
        Ok(save_draft(ctx, &caller, input, id, command_id).await?)
    }

    async fn delete_draft(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        run(backend(ctx), &caller, command_id, client(ctx), MailboxAction::DeleteDraft { draft_id: id }).await?;
        Ok(true)
    }

    /// Cancels a scheduled mail before its time (rule E2); it becomes a draft.
    async fn cancel_scheduled_mail(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<Mail> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        run(backend, &caller, command_id, client(ctx), MailboxAction::CancelScheduled { mail_id: id }).await?;
        Ok(full_mail(backend, &caller, id).await?)
    }

    /// Recalls a sent mail within 24 hours (rule E3): from the named
    /// recipients, or from every internal recipient.
    async fn recall_mail(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        recipients: Option<Vec<String>>,
        command_id: Option<Uuid>,
    ) -> Result<RecallResult> {
        let caller = caller(ctx).await?;
        Ok(recall(ctx, &caller, id, recipients, command_id).await?)
    }

    /// Marks a mail read or unread (read tracking, rule E4).
    async fn mark_mail_read(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(default = true)] read: bool,
        command_id: Option<Uuid>,
    ) -> Result<MailSummary> {
        let caller = caller(ctx).await?;
        Ok(on_one(ctx, &caller, id, command_id, MailboxAction::MarkRead { mail_id: id, read }).await?)
    }

    async fn flag_mail(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        flagged: bool,
        command_id: Option<Uuid>,
    ) -> Result<MailSummary> {
        let caller = caller(ctx).await?;
        Ok(on_one(ctx, &caller, id, command_id, MailboxAction::Flag { mail_id: id, flagged }).await?)
    }

    /// Moves mail into one of the caller's folders (rule E8).
    async fn move_mail(
        &self,
        ctx: &Context<'_>,
        ids: Vec<Uuid>,
        folder: String,
        command_id: Option<Uuid>,
    ) -> Result<Vec<MailSummary>> {
        let caller = caller(ctx).await?;
        let (to, _) = own_folder(ctx, &caller, &folder).await?;
        Ok(move_to(ctx, &caller, ids, to, command_id).await?)
    }

    /// Moves mail to the trash; returns how many.
    async fn delete_mail(&self, ctx: &Context<'_>, ids: Vec<Uuid>, command_id: Option<Uuid>) -> Result<usize> {
        let caller = caller(ctx).await?;
        Ok(move_to(ctx, &caller, ids, Folder::Trash, command_id).await?.len())
    }

    /// Deletes mail in the trash for good; returns how many.
    async fn delete_mail_forever(&self, ctx: &Context<'_>, ids: Vec<Uuid>, command_id: Option<Uuid>) -> Result<usize> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        check_batch(&ids)?;
        for id in &ids {
            if own_entry(backend, &caller, *id).await?.folder != Folder::Trash {
                return Err(field_error(
                    "ids",
                    &format!("mail {id} is not in the trash; delete it to the trash first"),
                )
                .into());
            }
        }
        run(backend, &caller, command_id, client(ctx), MailboxAction::Purge { mail_ids: ids.clone() }).await?;
        Ok(ids.len())
    }

    /// Deletes everything in the trash for good; returns how many.
    async fn empty_trash(&self, ctx: &Context<'_>, command_id: Option<Uuid>) -> Result<usize> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        let trash =
            mailboxes::folder_entries(backend.read_models(), caller.tenant, caller.user.id, Folder::Trash, usize::MAX)
                .await?;
        let ids: Vec<Uuid> = trash.into_iter().map(|entry| entry.mail_id).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        run(backend, &caller, command_id, client(ctx), MailboxAction::Purge { mail_ids: ids.clone() }).await?;
        Ok(ids.len())
    }

    async fn create_mail_folder(
        &self,
        ctx: &Context<'_>,
        name: String,
        command_id: Option<Uuid>,
    ) -> Result<MailFolder> {
        let caller = caller(ctx).await?;
        let folder_id = Uuid::now_v7();
        let outcome =
            run(backend(ctx), &caller, command_id, client(ctx), MailboxAction::CreateFolder { folder_id, name })
                .await?;
        let created = outcome.events.iter().find_map(|e| match e {
            MailboxEvent::FolderCreated { folder_id, .. } => Some(*folder_id),
            _ => None,
        });
        Ok(folder_row(ctx, &caller, created.unwrap_or(folder_id)).await?)
    }

    async fn rename_mail_folder(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        name: String,
        command_id: Option<Uuid>,
    ) -> Result<MailFolder> {
        let caller = caller(ctx).await?;
        run(backend(ctx), &caller, command_id, client(ctx), MailboxAction::RenameFolder { folder_id: id, name })
            .await?;
        Ok(folder_row(ctx, &caller, id).await?)
    }

    /// Deletes an empty user folder.
    async fn delete_mail_folder(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        let folder = folder_row(ctx, &caller, id).await?;
        let mail_count = usize::try_from(folder.total).unwrap_or(0);
        run(backend(ctx), &caller, command_id, client(ctx), MailboxAction::DeleteFolder { folder_id: id, mail_count })
            .await?;
        Ok(true)
    }

    /// Forwards the caller's incoming mail to at most 20 addresses (rule
    /// E5); an empty list turns forwarding off.
    async fn set_mail_forwarding(
        &self,
        ctx: &Context<'_>,
        addresses: Vec<String>,
        #[graphql(default = true)] keep_copy: bool,
        command_id: Option<Uuid>,
    ) -> Result<MailForwarding> {
        let caller = caller(ctx).await?;
        Ok(set_forwarding(ctx, &caller, caller.user.id, &caller.user.login, addresses, keep_copy, false, command_id)
            .await?)
    }

    /// Sets a user's forwarding (admins only; rule E5); `adminOnly` locks
    /// the user out of changing it.
    async fn set_user_mail_forwarding(
        &self,
        ctx: &Context<'_>,
        user_id: Uuid,
        addresses: Vec<String>,
        #[graphql(default = true)] keep_copy: bool,
        #[graphql(default = false)] admin_only: bool,
        command_id: Option<Uuid>,
    ) -> Result<MailForwarding> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        let user = load_user(backend(ctx), caller.tenant, user_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("user {user_id}")))?;
        Ok(set_forwarding(ctx, &caller, user.id, &user.login, addresses, keep_copy, admin_only, command_id).await?)
    }

    /// Uses the one-time token of the daily-limit notice: the full 500
    /// deliveries are available again today (rule E1).
    async fn reset_send_quota(&self, ctx: &Context<'_>, token: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        let time_zone = CompanyDomains::load(backend, caller.tenant).await?.time_zone;
        run(backend, &caller, command_id, client(ctx), MailboxAction::ResetQuota { token, time_zone }).await?;
        Ok(true)
    }

    /// Adds a mail domain beside the primary one (admins only; rule T3).
    async fn add_mail_domain(&self, ctx: &Context<'_>, domain: String, command_id: Option<Uuid>) -> Result<MailDomain> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        Ok(change_domain(ctx, &caller, &domain, true, command_id).await?)
    }

    /// Removes an additional mail domain (admins only; rule T3).
    async fn remove_mail_domain(&self, ctx: &Context<'_>, domain: String, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        change_domain(ctx, &caller, &domain, false, command_id).await?;
        Ok(true)
    }

    /// Uploads a file to attach (GraphQL multipart request); pass the
    /// returned id in `attachments` when sending.
    async fn upload_attachment(&self, ctx: &Context<'_>, file: Upload) -> Result<AttachmentInfo> {
        let caller = caller(ctx).await?;
        Ok(upload(ctx, &caller, file).await?)
    }
}

fn check_batch(ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() {
        return Err(field_error("ids", "name at least one mail"));
    }
    if ids.len() > MAX_BATCH {
        return Err(ApiError::new(Code::LimitExceeded, format!("at most {MAX_BATCH} mails at once")));
    }
    Ok(())
}

async fn send_mail(
    ctx: &Context<'_>,
    caller: &Caller,
    input: ComposeInput,
    draft_id: Option<Uuid>,
    send_at: Option<DateTime<Utc>>,
    command_id: Option<Uuid>,
) -> ApiResult<Mail> {
    let backend = backend(ctx);
    let company = CompanyDomains::load(backend, caller.tenant).await?;
    let from = company.sender_address(&caller.user.login, input.from_domain.as_deref())?;
    let recipients = recipients(backend, caller.tenant, &company, &input).await?;
    let mail = OutgoingMail {
        mail_id: Uuid::now_v7(),
        from,
        recipients,
        content: content(backend, caller.tenant, &input).await?,
        draft_id,
    };
    let time_zone = company.time_zone;
    let offer = ResetOffer { token: Uuid::new_v4(), notice_id: Uuid::now_v7() };
    let action = match send_at {
        Some(due) => MailboxAction::Schedule { mail, due, time_zone, offer },
        None => MailboxAction::Send { mail, time_zone, offer },
    };
    let outcome = run(backend, caller, command_id, client(ctx), action).await?;
    let sent = outcome.events.iter().find_map(|e| match e {
        MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailScheduled { mail, .. } => Some(mail.mail_id),
        _ => None,
    });
    let sent = sent.ok_or_else(|| ApiError::internal("sending recorded no mail"))?;
    full_mail(backend, caller, sent).await
}

async fn save_draft(
    ctx: &Context<'_>,
    caller: &Caller,
    input: ComposeInput,
    id: Option<Uuid>,
    command_id: Option<Uuid>,
) -> ApiResult<Mail> {
    let backend = backend(ctx);
    let company = CompanyDomains::load(backend, caller.tenant).await?;
    let draft = Draft {
        from: Some(company.sender_address(&caller.user.login, input.from_domain.as_deref())?),
        to: parse_addresses("to", &input.to)?,
        cc: parse_addresses("cc", &input.cc)?,
        bcc: parse_addresses("bcc", &input.bcc)?,
        content: content(backend, caller.tenant, &input).await?,
    };
    if let Some(id) = id
        && own_entry(backend, caller, id).await?.folder != Folder::Drafts
    {
        return Err(field_error("id", &format!("mail {id} is not a draft")));
    }
    let draft_id = id.unwrap_or_else(Uuid::now_v7);
    let outcome = run(backend, caller, command_id, client(ctx), MailboxAction::SaveDraft { draft_id, draft }).await?;
    let saved = outcome.events.iter().find_map(|e| match e {
        MailboxEvent::DraftSaved { draft_id, .. } => Some(*draft_id),
        _ => None,
    });
    full_mail(backend, caller, saved.unwrap_or(draft_id)).await
}

async fn recall(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    chosen: Option<Vec<String>>,
    command_id: Option<Uuid>,
) -> ApiResult<RecallResult> {
    let backend = backend(ctx);
    if !full_mail(backend, caller, id).await?.outgoing {
        return Err(ApiError::not_found(format!("sent mail {id}")));
    }
    let rows = mailboxes::tracking(backend.read_models(), caller.tenant, id).await?;
    let targets: Vec<_> = match &chosen {
        None => rows.iter().collect(),
        Some(list) => {
            let addresses = parse_addresses("recipients", list)?;
            let mut targets = Vec::new();
            for address in addresses {
                let row = rows
                    .iter()
                    .find(|r| r.address == address)
                    .ok_or_else(|| field_error("recipients", &format!("{address} is not a recipient of this mail")))?;
                targets.push(row);
            }
            targets
        }
    };
    let internal: BTreeSet<Uuid> = targets.iter().filter_map(|r| r.user_id).collect();
    let not_recallable = targets.iter().filter(|r| !r.is_internal()).map(|r| r.address.to_string()).collect();
    let action = MailboxAction::Recall { mail_id: id, recipients: chosen.as_ref().map(|_| internal.clone()) };
    let outcome = run(backend, caller, command_id, client(ctx), action).await?;
    let now_recalled: BTreeSet<Uuid> = outcome
        .events
        .iter()
        .flat_map(|e| match e {
            MailboxEvent::MailRecalled { recipients, .. } => recipients.clone(),
            _ => vec![],
        })
        .collect();
    let (recalled, already_recalled) = targets
        .iter()
        .filter(|r| r.is_internal())
        .partition::<Vec<&&RecipientTracking>, _>(|r| r.user_id.is_some_and(|u| now_recalled.contains(&u)));
    Ok(RecallResult {
        mail_id: id,
        recalled: recalled.into_iter().map(|r| r.address.to_string()).collect(),
        already_recalled: already_recalled.into_iter().map(|r| r.address.to_string()).collect(),
        not_recallable,
    })
}

/// Runs `action` about one mail of the caller's mailbox; its entry after.
async fn on_one(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    command_id: Option<Uuid>,
    action: MailboxAction,
) -> ApiResult<MailSummary> {
    let backend = backend(ctx);
    own_entry(backend, caller, id).await?;
    run(backend, caller, command_id, client(ctx), action).await?;
    own_summary(backend, caller, id).await
}

async fn move_to(
    ctx: &Context<'_>,
    caller: &Caller,
    ids: Vec<Uuid>,
    to: Folder,
    command_id: Option<Uuid>,
) -> ApiResult<Vec<MailSummary>> {
    let backend = backend(ctx);
    check_batch(&ids)?;
    for id in &ids {
        own_entry(backend, caller, *id).await?;
    }
    // Rule E8: the mailbox refuses to move drafts and scheduled mail.
    run(backend, caller, command_id, client(ctx), MailboxAction::Move { mail_ids: ids.clone(), to }).await?;
    let mut moved = Vec::with_capacity(ids.len());
    for id in ids {
        moved.push(own_summary(backend, caller, id).await?);
    }
    Ok(moved)
}

async fn folder_row(ctx: &Context<'_>, caller: &Caller, id: Uuid) -> ApiResult<MailFolder> {
    let row = mailboxes::folder(backend(ctx).read_models(), caller.tenant, caller.user.id, Folder::User(id)).await?;
    Ok(row.ok_or_else(|| ApiError::not_found(format!("folder {id}")))?.into())
}

#[allow(clippy::too_many_arguments)]
async fn set_forwarding(
    ctx: &Context<'_>,
    caller: &Caller,
    user: Uuid,
    login: &str,
    addresses: Vec<String>,
    keep_copy: bool,
    admin_only: bool,
    command_id: Option<Uuid>,
) -> ApiResult<MailForwarding> {
    let backend = backend(ctx);
    let company = CompanyDomains::load(backend, caller.tenant).await?;
    let to =
        resolve(backend, caller.tenant, &company, &[("addresses", RecipientKind::To, addresses.as_slice())]).await?;
    let by_admin = user != caller.user.id;
    let forwarding = Forwarding {
        from: Some(domain::mail::MailAddress::of(login, &company.primary)),
        to,
        keep_copy,
        admin_only: by_admin && admin_only,
    };
    let context = context(command_id, Actor::User(caller.user.id), caller.tenant, client(ctx));
    let command =
        domain::mail::MailboxCommand { owner: user, action: MailboxAction::SetForwarding { forwarding, by_admin } };
    backend.execute::<domain::mail::Mailbox>(user, &context, command).await?;
    let row = mailboxes::forwarding(backend.read_models(), caller.tenant, user).await?;
    Ok(row.map(MailForwarding::from).unwrap_or_default())
}

async fn change_domain(
    ctx: &Context<'_>,
    caller: &Caller,
    domain: &str,
    add: bool,
    command_id: Option<Uuid>,
) -> ApiResult<MailDomain> {
    let backend = backend(ctx);
    let domain = DomainName::parse_company_owned(domain)?;
    let context = context(command_id, Actor::User(caller.user.id), caller.tenant, client(ctx));
    // Rule T3: one company at a time holds a domain; the registry decides.
    if add {
        let holder = DomainHolder { tenant: caller.tenant, primary: false };
        let command = TenantCommand::AddDomain { domain: domain.clone() };
        crate::schema::accounts::with_domain_claimed(backend, &domain, holder, &context, command).await?;
    } else {
        let command = TenantCommand::RemoveDomain { domain: domain.clone() };
        let removed = backend.execute::<Tenant>(caller.tenant, &context, command).await;
        // The registry follows the company also when an earlier removal
        // stopped between its two steps: a domain the company no longer has
        // is given up (a release gives up only the caller's own hold).
        let company = backend.commands.load::<Tenant>(caller.tenant).await?.state;
        let still_held = company.domain.as_ref() == Some(&domain) || company.additional_domains.contains(&domain);
        if !still_held && (removed.is_ok() || caller.has(domain::values::Role::Admin)) {
            crate::schema::accounts::release_domain(backend, &domain, caller.tenant, &context).await?;
        }
        removed?;
    }
    Ok(mail_domain(&domain, false, &backend.settings.mail_host))
}

async fn upload(ctx: &Context<'_>, caller: &Caller, file: Upload) -> ApiResult<AttachmentInfo> {
    let backend = backend(ctx);
    let value = file.value(ctx).map_err(|e| field_error("file", &format!("the upload cannot be read: {e}")))?;
    let name = value.filename.trim().to_owned();
    if name.is_empty() {
        return Err(field_error("file", "the file has no name"));
    }
    // The part's own type when it is a valid one; the client may name
    // another when it sends the mail.
    let content_type = value
        .content_type
        .as_deref()
        .and_then(|t| domain::mail::media_type(t).ok())
        .unwrap_or_else(|| domain::mail::OCTET_STREAM.into());
    let mut content = tokio::fs::File::from_std(value.content);
    let limit = backend.settings.attachment_limit;
    let stored = backend.blobs.put(caller.tenant, &mut content, limit).await.map_err(|e| match e {
        blobs::BlobError::TooLarge { limit } => {
            ApiError::new(Code::LimitExceeded, format!("an attachment is at most {limit} bytes"))
        }
        other => ApiError::internal(other),
    })?;
    Ok(AttachmentInfo { id: stored.sha256, name, content_type, size: stored.size })
}
