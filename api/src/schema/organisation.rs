//! The organisation chart over GraphQL (rule U4): everyone of the company
//! reads it; admins edit it.

use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject};
use commands::AggregateHandle;
use domain::organisation::{Organisation, OrganisationAction, OrganisationCommand};
use domain::values::Role;
use projections::projectors::organisation::{self as chart, DepartmentRow, MemberRow, PositionRow};
use uuid::Uuid;

use super::{Caller, User, backend, caller, caller_context, load_user};
use crate::backend::new_id;
use crate::capabilities::Capability;
use crate::errors::{ApiError, ApiResult};

/// The organisation chart: departments, positions and members.
pub(crate) fn capability() -> Capability {
    Capability {
        aggregates: vec![AggregateHandle::of::<Organisation>()],
        projectors: vec![std::sync::Arc::new(chart::OrganisationProjector)],
        ..Capability::new("organisation")
    }
}

/// A department of the company.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Department {
    pub id: Uuid,
    pub name: String,
    /// None: directly under the company.
    pub parent_id: Option<Uuid>,
    #[graphql(skip)]
    pub members: Vec<Uuid>,
    #[graphql(skip)]
    pub heads: Vec<Uuid>,
    #[graphql(skip)]
    pub box_managers: Vec<Uuid>,
    #[graphql(skip)]
    pub tenant: Uuid,
}

impl Department {
    fn new(tenant: Uuid, row: DepartmentRow) -> Self {
        let DepartmentRow { id, name, parent_id, members, heads, box_managers } = row;
        Self { id, name, parent_id, members, heads, box_managers, tenant }
    }
}

async fn users(ctx: &Context<'_>, tenant: Uuid, ids: &[Uuid]) -> ApiResult<Vec<User>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = load_user(backend(ctx), tenant, *id).await? {
            out.push(user);
        }
    }
    Ok(out)
}

#[ComplexObject]
impl Department {
    async fn heads(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        Ok(users(ctx, self.tenant, &self.heads).await?)
    }

    /// Who manages the department's document box.
    async fn box_managers(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        Ok(users(ctx, self.tenant, &self.box_managers).await?)
    }

    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<Member>> {
        let mut members = Vec::with_capacity(self.members.len());
        for user in &self.members {
            members.extend(member(ctx, self.tenant, *user).await?);
        }
        Ok(members)
    }
}

/// A position (직급); rank 1 is the highest.
#[derive(SimpleObject, Debug, Clone)]
pub struct Position {
    pub id: Uuid,
    pub name: String,
    pub rank: u32,
}

impl From<PositionRow> for Position {
    fn from(PositionRow { id, name, rank }: PositionRow) -> Self {
        Self { id, name, rank }
    }
}

/// Where a user sits in the organisation.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Member {
    pub user_id: Uuid,
    pub department_id: Uuid,
    pub position_id: Option<Uuid>,
    #[graphql(skip)]
    pub tenant: Uuid,
}

impl Member {
    fn new(tenant: Uuid, MemberRow { user_id, department_id, position_id }: MemberRow) -> Self {
        Self { user_id, department_id, position_id, tenant }
    }
}

#[ComplexObject]
impl Member {
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(load_user(backend(ctx), self.tenant, self.user_id).await?)
    }

    async fn position(&self, ctx: &Context<'_>) -> Result<Option<Position>> {
        let Some(position) = self.position_id else { return Ok(None) };
        let row = chart::position(backend(ctx).read_models(), self.tenant, position).await.map_err(ApiError::from)?;
        Ok(row.map(Position::from))
    }
}

async fn department(ctx: &Context<'_>, tenant: Uuid, id: Uuid) -> ApiResult<Department> {
    let row = chart::department(backend(ctx).read_models(), tenant, id).await?;
    Ok(Department::new(tenant, row.ok_or_else(|| ApiError::not_found(format!("department {id}")))?))
}

async fn position(ctx: &Context<'_>, tenant: Uuid, id: Uuid) -> ApiResult<Position> {
    let row = chart::position(backend(ctx).read_models(), tenant, id).await?;
    Ok(row.ok_or_else(|| ApiError::not_found(format!("position {id}")))?.into())
}

async fn member(ctx: &Context<'_>, tenant: Uuid, user: Uuid) -> ApiResult<Option<Member>> {
    let row = chart::member(backend(ctx).read_models(), tenant, user).await?;
    Ok(row.map(|row| Member::new(tenant, row)))
}

#[derive(Default)]
pub struct OrganisationQuery;

#[Object]
impl OrganisationQuery {
    /// Every department of the company; `parentId` builds the tree.
    async fn departments(&self, ctx: &Context<'_>) -> Result<Vec<Department>> {
        let caller = caller(ctx).await?;
        let rows = chart::departments(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?;
        let mut departments: Vec<Department> =
            rows.into_iter().map(|row| Department::new(caller.tenant, row)).collect();
        departments.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(departments)
    }

    /// The positions, highest rank first.
    async fn positions(&self, ctx: &Context<'_>) -> Result<Vec<Position>> {
        let caller = caller(ctx).await?;
        let rows = chart::positions(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?;
        let mut positions: Vec<Position> = rows.into_iter().map(Position::from).collect();
        positions.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.name.cmp(&b.name)));
        Ok(positions)
    }

    /// Where a user sits; none when not assigned.
    async fn member(&self, ctx: &Context<'_>, user_id: Uuid) -> Result<Option<Member>> {
        let caller = caller(ctx).await?;
        Ok(member(ctx, caller.tenant, user_id).await?)
    }
}

/// Runs an organisation command; the aggregate refuses non-admins.
async fn run(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    action: OrganisationAction,
) -> ApiResult<()> {
    let context = caller_context(ctx, caller, command_id);
    let command = OrganisationCommand { by_admin: caller.has(Role::Admin), action };
    backend(ctx).execute::<Organisation>(caller.tenant, &context, command).await?;
    Ok(())
}

fn rank(value: i32) -> ApiResult<u32> {
    u32::try_from(value).map_err(|_| domain::DomainError::invalid("rank", "a rank is 0 or more").into())
}

#[derive(Default)]
pub struct OrganisationMutation;

#[Object]
impl OrganisationMutation {
    /// Adds a department, under `parentId` or directly under the company
    /// (admins only; rule U4).
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        name: String,
        parent_id: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<Department> {
        let caller = caller(ctx).await?;
        let department_id = new_id(command_id);
        run(ctx, &caller, command_id, OrganisationAction::CreateDepartment { department_id, name, parent: parent_id })
            .await?;
        Ok(department(ctx, caller.tenant, department_id).await?)
    }

    async fn rename_department(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        name: String,
        command_id: Option<Uuid>,
    ) -> Result<Department> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::RenameDepartment { department_id: id, name }).await?;
        Ok(department(ctx, caller.tenant, id).await?)
    }

    /// Moves a department under another (or to the top); never under itself.
    async fn move_department(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        parent_id: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<Department> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::MoveDepartment { department_id: id, parent: parent_id })
            .await?;
        Ok(department(ctx, caller.tenant, id).await?)
    }

    /// Deletes a department without sub-departments and members.
    async fn delete_department(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::DeleteDepartment { department_id: id }).await?;
        Ok(true)
    }

    async fn create_position(
        &self,
        ctx: &Context<'_>,
        name: String,
        rank: i32,
        command_id: Option<Uuid>,
    ) -> Result<Position> {
        let caller = caller(ctx).await?;
        let position_id = new_id(command_id);
        let rank = self::rank(rank)?;
        run(ctx, &caller, command_id, OrganisationAction::CreatePosition { position_id, name, rank }).await?;
        Ok(position(ctx, caller.tenant, position_id).await?)
    }

    async fn change_position(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        name: String,
        rank: i32,
        command_id: Option<Uuid>,
    ) -> Result<Position> {
        let caller = caller(ctx).await?;
        let rank = self::rank(rank)?;
        run(ctx, &caller, command_id, OrganisationAction::RenamePosition { position_id: id, name, rank }).await?;
        Ok(position(ctx, caller.tenant, id).await?)
    }

    /// Deletes a position nobody holds.
    async fn delete_position(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::DeletePosition { position_id: id }).await?;
        Ok(true)
    }

    /// Puts a user in a department, with a position.
    async fn assign_member(
        &self,
        ctx: &Context<'_>,
        user_id: Uuid,
        department_id: Uuid,
        position_id: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<Member> {
        let caller = caller(ctx).await?;
        if load_user(backend(ctx), caller.tenant, user_id).await?.is_none() {
            return Err(ApiError::not_found(format!("user {user_id}")).into());
        }
        run(ctx, &caller, command_id, OrganisationAction::Assign { user_id, department_id, position_id }).await?;
        let assigned = member(ctx, caller.tenant, user_id).await?;
        Ok(assigned.ok_or_else(|| ApiError::internal("the assignment is not in the read model"))?)
    }

    async fn unassign_member(&self, ctx: &Context<'_>, user_id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::Unassign { user_id }).await?;
        Ok(true)
    }

    /// Marks (or unmarks) a member of the department as one of its heads.
    async fn set_department_head(
        &self,
        ctx: &Context<'_>,
        department_id: Uuid,
        user_id: Uuid,
        #[graphql(default = true)] head: bool,
        command_id: Option<Uuid>,
    ) -> Result<Department> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::SetHead { department_id, user_id, head }).await?;
        Ok(department(ctx, caller.tenant, department_id).await?)
    }

    /// Marks (or unmarks) a member as a manager of the department's box.
    async fn set_box_manager(
        &self,
        ctx: &Context<'_>,
        department_id: Uuid,
        user_id: Uuid,
        #[graphql(default = true)] manager: bool,
        command_id: Option<Uuid>,
    ) -> Result<Department> {
        let caller = caller(ctx).await?;
        run(ctx, &caller, command_id, OrganisationAction::SetBoxManager { department_id, user_id, manager }).await?;
        Ok(department(ctx, caller.tenant, department_id).await?)
    }
}
