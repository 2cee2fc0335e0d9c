//! Webmail queries: the caller's folders, a folder's mail, one mail, search,
//! forwarding and the company's domains.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use domain::mail::Folder;
use projections::projectors::mailboxes::{self, FOLDER_ITEMS, FolderRow};
use search::MailSearch;
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

    /// The caller's mail that a search finds, newest first: every word of
    /// `query` in the sender, the recipients, the subject or the body;
    /// every word of `sender`, `recipient`, `subject` and `body` in that
    /// part; sent or received from `since` and before `until`; in
    /// `folder`. Latin words also match as the start of longer ones
    /// ("meet" finds "meeting"); Korean words match inside longer ones
    /// ("회의록" finds "회의록을"). At least one of them must be given.
    #[allow(clippy::too_many_arguments)]
    async fn search_mail(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        sender: Option<String>,
        recipient: Option<String>,
        subject: Option<String>,
        body: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        folder: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<MailSummary>> {
        let caller = caller(ctx).await?;
        let folder = match folder {
            Some(folder) => Some(own_folder(ctx, &caller, &folder).await?.0),
            None => None,
        };
        let search = MailSearch {
            anywhere: query.unwrap_or_default(),
            sender: sender.unwrap_or_default(),
            recipient: recipient.unwrap_or_default(),
            subject: subject.unwrap_or_default(),
            body: body.unwrap_or_default(),
            since,
            until,
            folder,
        };
        Ok(search_mail(ctx, &caller, search, &PageRequest::new(first, after, last, before)).await?)
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

/// The longest text a part of a search may hold, in characters.
const MAX_SEARCH_TEXT: usize = 500;

/// How long a search waits for the mail index to show what the read
/// models show (the caller's own latest mail among it).
const SEARCH_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(5);

async fn search_mail(
    ctx: &Context<'_>,
    caller: &Caller,
    search: MailSearch,
    request: &PageRequest,
) -> ApiResult<Page<MailSummary>> {
    let window = request.window(SEARCH_LIST)?;
    let parts = [
        ("query", &search.anywhere),
        ("sender", &search.sender),
        ("recipient", &search.recipient),
        ("subject", &search.subject),
        ("body", &search.body),
    ];
    for (field, text) in parts {
        if text.chars().count() > MAX_SEARCH_TEXT {
            return Err(field_error(field, &format!("search for at most {MAX_SEARCH_TEXT} characters")));
        }
    }
    if search.is_empty() {
        return Err(field_error("query", "search for at least one word, a sender, a recipient, a date or a folder"));
    }
    if search.word_count() > search::MAX_WORDS {
        return Err(field_error("query", &format!("search for at most {} different words", search::MAX_WORDS)));
    }
    if let (Some(since), Some(until)) = (search.since, search.until)
        && since >= until
    {
        return Err(field_error("until", "`until` must come after `since`"));
    }
    // Cursors are places in the list of hits.
    let from = window
        .from
        .as_deref()
        .map(|c| {
            c.parse::<usize>().map_err(|_| ApiError::new(Code::Validation, "the cursor is not a cursor of this list"))
        })
        .transpose()?;
    if from.is_some_and(|at| at >= search::MAX_OFFSET) {
        return Err(ApiError::new(
            Code::Validation,
            format!("search pages go {} hits deep at most; narrow the search instead", search::MAX_OFFSET),
        ));
    }
    let backend = backend(ctx);
    // What the mailboxes show now, the caller's latest mail among it.
    let shown = backend
        .projections
        .watch(mailboxes::PROJECTOR)
        .map_or_else(|| backend.projections.position(), |mailboxes| mailboxes.borrow().checkpoint);
    if !backend.mail_index.wait_for(shown, SEARCH_CATCH_UP).await {
        return Err(ApiError::internal(format!(
            "mail search is still catching up with the mailboxes ({} of {shown} events indexed); try again shortly",
            backend.mail_index.position()
        )));
    }
    let (tenant, user) = (caller.tenant, caller.user.id);
    let find = |offset: usize, limit: usize| {
        let (index, search) = (backend.mail_index.clone(), search.clone());
        async move {
            tokio::task::spawn_blocking(move || index.search(tenant, user, &search, offset, limit))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| match e {
                    // Pages past the deepest one (backwards from the end of
                    // a very long list, say).
                    search::SearchError::TooDeep | search::SearchError::TooManyWords => {
                        ApiError::new(Code::Validation, format!("{e}; narrow the search instead"))
                    }
                    other => ApiError::internal(other),
                })
        }
    };
    // The window's hits: one more than a page, nearest to the cursor first.
    let (start, hits) = if window.backwards {
        let total = find(0, 0).await?.total;
        let end = from.unwrap_or(total).min(total);
        let start = end.saturating_sub(window.size + 1);
        (start, find(start, end - start).await?)
    } else {
        let start = from.map_or(0, |i| i + 1);
        (start, find(start, window.size + 1).await?)
    };
    let models = backend.read_models();
    let mut items = Vec::with_capacity(hits.mails.len());
    for (i, mail) in hits.mails.into_iter().enumerate() {
        // A mail that left the mailbox since the index last caught up.
        if let Some(entry) = mailboxes::entry(models, tenant, user, mail).await? {
            items.push(((start + i).to_string(), MailSummary::new(tenant, entry)));
        }
    }
    if window.backwards {
        items.reverse();
    }
    Ok(window.connection(SEARCH_LIST, items, hits.total))
}
