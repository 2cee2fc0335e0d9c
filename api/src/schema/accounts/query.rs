//! Queries of the company and its users, always within the caller's
//! tenant.

use async_graphql::{Context, Object, Result};
use projections::projectors::{tenants, users};
use uuid::Uuid;

use crate::errors::ApiError;
use crate::schema::pagination::{Page, PageRequest, counted_page};
use crate::schema::types::Tenant;
use crate::schema::{User, backend, caller, load_user};

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The logged-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(caller(ctx).await?.user)
    }

    /// The caller's company.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let caller = caller(ctx).await?;
        let row = tenants::tenant(backend(ctx).read_models(), caller.tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("company not found"))?;
        Ok(row.into())
    }

    /// The company's users, by ID.
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<User>> {
        let caller = caller(ctx).await?;
        let prefix = users::users_prefix(caller.tenant);
        let request = PageRequest::new(first, after, last, before);
        let backend = backend(ctx);
        let total = users::user_count(backend.read_models(), caller.tenant).await?;
        Ok(counted_page(backend, users::USERS, &prefix, &request, total, |row| Ok(User::from(row))).await?)
    }

    /// One user of the company.
    async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<User>> {
        let caller = caller(ctx).await?;
        Ok(load_user(backend(ctx), caller.tenant, id).await?)
    }
}
