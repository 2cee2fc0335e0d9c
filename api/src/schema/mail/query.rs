//! Webmail queries: the caller's folders, a folder's mail, one mail, search,
//! forwarding and the company's domains.

use async_graphql::{Context, Object, Result};
use domain::mail::Folder;
use projections::projectors::mailboxes::{self, FOLDER_ITEMS, FolderRow};
use uuid::Uuid;

use super::types::{DnsRecord, Mail, MailDomain, MailFolder, MailForwarding, MailSummary};
use super::{CompanyDomains, field_error, full_mail};
use crate::errors::{ApiError, ApiResult, Code};
use crate::schema::pagination::{Page, PageRequest, counted_page};
use crate::schema::{Caller, backend, caller, load_user};

/// The most user folders one listing reads.
const MAX_FOLDERS: usize = 1000;

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// The caller's folders with their total and unread counts (rule E8).
    async fn mail_folders(&self, ctx: &Context<'_>) -> Result<Vec<MailFolder>> {
        let caller = caller(ctx).await?;
        Ok(folders(ctx, &caller).await?)
    }

    /// A folder's mail, newest first (rule E8).
    async fn mailbox(
        &self,
        ctx: &Context<'_>,
        folder: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<MailSummary>> {
        let caller = caller(ctx).await?;
        Ok(mailbox(ctx, &caller, &folder, &PageRequest::new(first, after, last, before)).await?)
    }

    /// One mail of the caller's mailbox in full.
    async fn mail(&self, ctx: &Context<'_>, id: Uuid) -> Result<Mail> {
        let caller = caller(ctx).await?;
        Ok(full_mail(backend(ctx), &caller, id).await?)
    }

    /// The caller's mail whose sender, subject or body holds every word of
    /// `query`, newest first.
    async fn search_mail(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<MailSummary>> {
        let caller = caller(ctx).await?;
        Ok(search(ctx, &caller, &query, &PageRequest::new(first, after, last, before)).await?)
    }

    /// The caller's forwarding (rule E5).
    async fn mail_forwarding(&self, ctx: &Context<'_>) -> Result<MailForwarding> {
        let caller = caller(ctx).await?;
        Ok(forwarding(ctx, caller.tenant, caller.user.id).await?)
    }

    /// A user's forwarding (admins only; rule E5).
    async fn user_mail_forwarding(&self, ctx: &Context<'_>, user_id: Uuid) -> Result<MailForwarding> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        // Another company's user reads as one that does not exist.
        load_user(backend(ctx), caller.tenant, user_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("user {user_id}")))?;
        Ok(forwarding(ctx, caller.tenant, user_id).await?)
    }

    /// The company's mail domains and the DNS records each needs (rule T3).
    async fn mail_domains(&self, ctx: &Context<'_>) -> Result<Vec<MailDomain>> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        let company = CompanyDomains::load(backend, caller.tenant).await?;
        Ok(company.domains.iter().map(|d| mail_domain(d, *d == company.primary, &backend.settings.mail_host)).collect())
    }
}

pub(super) fn mail_domain(domain: &domain::values::DomainName, primary: bool, mail_host: &str) -> MailDomain {
    MailDomain {
        name: domain.to_string(),
        primary,
        records: domain::mail::dns::records(domain, mail_host)
            .into_iter()
            .map(|r| DnsRecord { kind: r.kind.to_owned(), name: r.name, value: r.value, priority: r.priority })
            .collect(),
    }
}

async fn folders(ctx: &Context<'_>, caller: &Caller) -> ApiResult<Vec<MailFolder>> {
    let mut stored = mailboxes::folders(backend(ctx).read_models(), caller.tenant, caller.user.id, MAX_FOLDERS).await?;
    let mut out: Vec<MailFolder> = Folder::SYSTEM
        .iter()
        .map(|f| {
            let row = stored.iter().find(|s| s.id == *f).cloned().unwrap_or_else(|| FolderRow::empty_system(*f));
            MailFolder::from(row)
        })
        .collect();
    stored.retain(|s| !s.system);
    stored.sort_by_key(|f| f.name.to_lowercase());
    out.extend(stored.into_iter().map(MailFolder::from));
    Ok(out)
}

/// Checks that `folder` names one of the caller's folders; the folder and
/// how many mails it holds.
pub(super) async fn own_folder(ctx: &Context<'_>, caller: &Caller, folder: &str) -> ApiResult<(Folder, usize)> {
    let parsed: Folder = folder.parse().map_err(|_| field_error("folder", &format!("`{folder}` is not a folder")))?;
    let row = mailboxes::folder(backend(ctx).read_models(), caller.tenant, caller.user.id, parsed).await?;
    match row {
        Some(row) => Ok((parsed, usize::try_from(row.total).unwrap_or(usize::MAX))),
        // System folders exist before their first mail.
        None if parsed.system_name().is_some() => Ok((parsed, 0)),
        None => Err(ApiError::not_found(format!("folder {folder}"))),
    }
}

async fn mailbox(
    ctx: &Context<'_>,
    caller: &Caller,
    folder: &str,
    request: &PageRequest,
) -> ApiResult<Page<MailSummary>> {
    let (folder, total) = own_folder(ctx, caller, folder).await?;
    let prefix = mailboxes::folder_items_prefix(caller.tenant, caller.user.id, folder);
    counted_page(backend(ctx), FOLDER_ITEMS, &prefix, request, total, |entry| {
        Ok(MailSummary::new(caller.tenant, entry))
    })
    .await
}

async fn forwarding(ctx: &Context<'_>, tenant: Uuid, user: Uuid) -> ApiResult<MailForwarding> {
    let row = mailboxes::forwarding(backend(ctx).read_models(), tenant, user).await?;
    Ok(row.map(MailForwarding::from).unwrap_or_default())
}

/// The list name of search cursors.
const SEARCH_LIST: &str = "search";

/// The most entries a search reads.
const SEARCH_SCAN: usize = 100_000;

async fn search(
    ctx: &Context<'_>,
    caller: &Caller,
    query: &str,
    request: &PageRequest,
) -> ApiResult<Page<MailSummary>> {
    let window = request.window(SEARCH_LIST)?;
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Err(field_error("query", "search for at least one word"));
    }
    // Cursors are places in the list of hits.
    let from = window
        .from
        .as_deref()
        .map(|c| {
            c.parse::<usize>().map_err(|_| ApiError::new(Code::Validation, "the cursor is not a cursor of this list"))
        })
        .transpose()?;
    let models = backend(ctx).read_models();
    let entries = mailboxes::entries(models, caller.tenant, caller.user.id, SEARCH_SCAN).await?;
    let mut hits = Vec::new();
    for entry in entries {
        let Some(row) = mailboxes::mail(models, caller.tenant, entry.mail_id).await? else { continue };
        let haystack =
            format!("{} {} {}", row.from.as_deref().unwrap_or_default(), row.subject, row.text).to_lowercase();
        if words.iter().all(|w| haystack.contains(w.as_str())) {
            hits.push(MailSummary::new(caller.tenant, entry));
        }
    }
    hits.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    let total_count = hits.len();
    let numbered = hits.into_iter().enumerate().map(|(i, hit)| (i.to_string(), hit));
    // The window's items, nearest to the cursor first, one more than a page.
    let items: Vec<_> = match (window.backwards, from) {
        (false, from) => numbered.skip(from.map_or(0, |i| i + 1)).take(window.size + 1).collect(),
        (true, before) => {
            let end = before.unwrap_or(total_count).min(total_count);
            let mut items: Vec<_> = numbered.take(end).collect();
            items.reverse();
            items.truncate(window.size + 1);
            items
        }
    };
    Ok(window.connection(SEARCH_LIST, items, total_count))
}
