//! Mutations of the audit capability.

use async_graphql::{Context, Object, Result};
use domain::audit::{CheckpointCommand, Checkpoints};
use domain::values::Role;
use uuid::Uuid;

use super::Checkpoint;
use super::archives::{self, CompanyArchive};
use super::retention::{self, CompanyRetention};
use super::signer::{Signing, signing};
use crate::errors::{ApiError, ApiResult};
use crate::schema::{backend, caller, caller_context};

#[derive(Default)]
pub struct AuditMutation;

#[Object]
impl AuditMutation {
    /// Signs a checkpoint of the company's hash chain now (admins only),
    /// unless the newest one covers every event but itself; answers the
    /// newest checkpoint.
    async fn sign_checkpoint(&self, ctx: &Context<'_>, command_id: Option<Uuid>) -> Result<Checkpoint> {
        Ok(sign_checkpoint(ctx, command_id).await?)
    }

    /// Asks for an archive of the company's history for the months `from`
    /// to `to` (`YYYY-MM`, in the company's time zone, both included),
    /// made in the background and downloadable for 30 days (admins and
    /// auditors). It holds no mail.
    async fn request_archive(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        command_id: Option<Uuid>,
    ) -> Result<CompanyArchive> {
        let caller = caller(ctx).await?;
        let context = caller_context(ctx, &caller, command_id);
        Ok(archives::request(backend(ctx), &caller, &context, (&from, &to)).await?)
    }

    /// Sets how many months, this one included, the company keeps its
    /// history in the live log (admins only; 60 to 600, 60 by default):
    /// older months leave it for archive files, from which they are still
    /// read.
    async fn set_retention(
        &self,
        ctx: &Context<'_>,
        months: u32,
        command_id: Option<Uuid>,
    ) -> Result<CompanyRetention> {
        let caller = caller(ctx).await?;
        let context = caller_context(ctx, &caller, command_id);
        Ok(retention::set_period(backend(ctx), &caller, &context, months).await?)
    }
}

async fn sign_checkpoint(ctx: &Context<'_>, command_id: Option<Uuid>) -> ApiResult<Checkpoint> {
    let caller = caller(ctx).await?;
    caller.require_admin()?;
    let backend = backend(ctx);
    let checkpoint = match signing(&backend.commands, &backend.checkpoints.key, caller.tenant).await? {
        Signing::Empty => return Err(ApiError::not_found("the company has no events to sign")),
        Signing::Covered(checkpoint) => checkpoint,
        Signing::Due(checkpoint) => {
            let context = caller_context(ctx, &caller, command_id);
            backend
                .execute::<Checkpoints>(
                    caller.tenant,
                    &context,
                    CheckpointCommand { by_admin: caller.has(Role::Admin), checkpoint: checkpoint.clone() },
                )
                .await?;
            checkpoint
        }
    };
    Ok(checkpoint.into())
}
