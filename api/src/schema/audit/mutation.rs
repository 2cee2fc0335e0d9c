//! Mutations of the audit capability.

use async_graphql::{Context, Object, Result};
use domain::audit::{CheckpointCommand, Checkpoints};
use domain::values::Role;
use uuid::Uuid;

use super::Checkpoint;
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
