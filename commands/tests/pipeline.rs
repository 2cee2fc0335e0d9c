//! The command pipeline against the embedded store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandContext, CommandError, Commands, ManualClock};
use domain::tenant::{NewAccount, Tenant, TenantCommand, TenantEvent};
use domain::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, Role, TimeZone};
use domain::{Actor, DomainError, ErrorKind};
use snapshots::{Snapshot, SnapshotPolicy, SnapshotStore, SqliteSnapshotStore};
use store::sqlite::SqliteEventStore;
use store::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, RecordedEvent, StoreError, StreamMetadata,
};
use uuid::Uuid;

struct Setup {
    dir: tempfile::TempDir,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Self {
        let start = DateTime::parse_from_rfc3339("2026-11-26T09:00:00+09:00").unwrap().with_timezone(&Utc);
        Self { dir: tempfile::tempdir().unwrap(), clock: ManualClock::new(start) }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        let clock = self.clock.clone();
        Arc::new(
            SqliteEventStore::open(self.dir.path().join("events.db"), Arc::new(move || commands::Clock::now(&clock)))
                .unwrap(),
        )
    }

    async fn commands(&self, store: Arc<dyn EventStore>, every: u64) -> (Arc<Commands>, Arc<SqliteSnapshotStore>) {
        self.commands_with_deadline(store, every, Duration::from_secs(10)).await
    }

    async fn commands_with_deadline(
        &self,
        store: Arc<dyn EventStore>,
        every: u64,
        deadline: Duration,
    ) -> (Arc<Commands>, Arc<SqliteSnapshotStore>) {
        let snapshots = Arc::new(SqliteSnapshotStore::open(self.dir.path().join("snapshots.db")).unwrap());
        let commands = Commands::new(
            store,
            Some(snapshots.clone() as Arc<dyn SnapshotStore>),
            SnapshotPolicy { every },
            Arc::new(self.clock.clone()),
            deadline,
        )
        .await
        .unwrap();
        (Arc::new(commands), snapshots)
    }
}

fn domain() -> DomainName {
    DomainName::parse("acme.co.kr").unwrap()
}

const ADMIN: Uuid = Uuid::from_u128(1);

fn account(user_id: Uuid, login: &str) -> NewAccount {
    NewAccount {
        user_id,
        login: LoginId::parse(login).unwrap(),
        name: Name::parse("name", "홍길동").unwrap(),
        password_hash: PasswordHash("hash".into()),
    }
}

fn sign_up() -> TenantCommand {
    TenantCommand::SignUp {
        domain: domain(),
        company_name: Name::parse("companyName", "에이크미").unwrap(),
        member_type: MemberType::Business,
        billing_cycle: BillingCycle::parse(1).unwrap(),
        time_zone: TimeZone::default(),
        admin: account(ADMIN, "admin"),
    }
}

fn ctx(actor: Actor) -> CommandContext {
    CommandContext::new(Uuid::now_v7(), actor, Some(domain().tenant_id()))
}

fn create(login: &str) -> TenantCommand {
    TenantCommand::CreateUser { account: account(Uuid::now_v7(), login), roles: BTreeSet::new() }
}

#[tokio::test]
async fn a_repeated_command_id_has_one_effect_and_returns_the_first_result_also_after_a_restart() {
    let setup = Setup::new();
    let store = setup.store();
    let (commands, _) = setup.commands(store.clone(), 100).await;
    let tenant = domain().tenant_id();
    commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let context = ctx(Actor::User(ADMIN));
    let first = commands.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    assert!(!first.repeated);
    let head = *store.head().borrow();
    // Same id, even with another payload: the first result, nothing appended.
    let again = commands.execute::<Tenant>(tenant, &context, create("lee")).await.unwrap();
    assert!(again.repeated);
    assert_eq!(again.events, first.events);
    assert_eq!(again.position, first.position);
    assert_eq!(*store.head().borrow(), head);
    drop(commands);
    drop(store);

    let store = setup.store();
    let (restarted, _) = setup.commands(store.clone(), 100).await;
    let after = restarted.execute::<Tenant>(tenant, &context, create("park")).await.unwrap();
    assert!(after.repeated);
    assert_eq!(after.events, first.events);
    assert_eq!(*store.head().borrow(), head);
    let state = restarted.load::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 2);
}

#[tokio::test]
async fn a_command_id_reused_for_another_stream_is_refused() {
    let setup = Setup::new();
    let store = setup.store();
    let (commands, _) = setup.commands(store.clone(), 100).await;
    let tenant = domain().tenant_id();
    let context = ctx(Actor::Anonymous);
    commands.execute::<Tenant>(tenant, &context, sign_up()).await.unwrap();
    let head = *store.head().borrow();
    let other = DomainName::parse("other.co.kr").unwrap();
    let mut command = sign_up();
    if let TenantCommand::SignUp { domain, .. } = &mut command {
        *domain = other.clone();
    }
    let reused = commands.execute::<Tenant>(other.tenant_id(), &context, command).await;
    assert!(matches!(reused, Err(CommandError::CommandIdReused(id)) if id == context.command_id));
    assert_eq!(*store.head().borrow(), head);
}

/// Signs the company up, then creates `users` users at once.
async fn sign_up_and_create_concurrently(commands: &Arc<Commands>, users: usize) -> Vec<Result<(), CommandError>> {
    let tenant = domain().tenant_id();
    commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let tasks: Vec<_> = (0..users)
        .map(|i| {
            let commands = commands.clone();
            tokio::spawn(async move {
                commands
                    .execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create(&format!("user{i}")))
                    .await
                    .map(drop)
            })
        })
        .collect();
    futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

#[tokio::test]
async fn concurrent_commands_on_one_stream_retry_until_each_has_its_effect() {
    let setup = Setup::new();
    let (commands, _) = setup.commands(setup.store(), 100).await;
    let tenant = domain().tenant_id();
    for result in sign_up_and_create_concurrently(&commands, 16).await {
        result.unwrap();
    }
    let state = commands.load::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 17);
    assert_eq!(state.version, Some(17));
}

#[tokio::test]
async fn contention_beyond_the_deadline_is_reported_and_writes_nothing() {
    let setup = Setup::new();
    let (commands, _) = setup.commands_with_deadline(setup.store(), 100, Duration::ZERO).await;
    let tenant = domain().tenant_id();
    let mut won = 0;
    for result in sign_up_and_create_concurrently(&commands, 32).await {
        match result {
            Ok(_) => won += 1,
            Err(CommandError::Contention(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let state = commands.load::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 1 + won);
}

#[tokio::test]
async fn a_refused_command_writes_nothing() {
    let setup = Setup::new();
    let store = setup.store();
    let (commands, _) = setup.commands(store.clone(), 100).await;
    let tenant = domain().tenant_id();
    commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let head = *store.head().borrow();
    let refused = commands
        .execute::<Tenant>(
            tenant,
            &ctx(Actor::User(ADMIN)),
            TenantCommand::RevokeRole { user_id: ADMIN, role: Role::Admin },
        )
        .await;
    assert!(
        matches!(&refused, Err(CommandError::Rejected(e)) if e.kind() == ErrorKind::Conflict && e.rule() == Some("U3"))
    );
    let forbidden = commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), create("kim")).await;
    assert!(matches!(forbidden, Err(CommandError::Rejected(DomainError::Unauthenticated(_)))));
    assert_eq!(*store.head().borrow(), head);
}

async fn tenant_log(commands: &Commands, tenant: Uuid) -> Vec<RecordedEvent> {
    let stream = commands::stream_name::<Tenant>(tenant);
    commands.store().read_stream(&stream, Direction::Forwards, None, 1000).await.unwrap()
}

fn fold_all(events: &[RecordedEvent]) -> Tenant {
    events.iter().fold(Tenant::default(), |state, e| {
        use domain::Aggregate;
        state.evolve(&e.decode::<TenantEvent>().unwrap())
    })
}

#[tokio::test]
async fn state_loaded_with_and_without_snapshots_is_equal() {
    let setup = Setup::new();
    let (commands, snapshots) = setup.commands(setup.store(), 10).await;
    let tenant = domain().tenant_id();
    commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    for i in 0..40 {
        let outcome =
            commands.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create(&format!("user{i}"))).await.unwrap();
        if i % 3 == 0 {
            let TenantEvent::UserCreated { user_id, .. } = outcome.events[0] else { panic!() };
            commands
                .execute::<Tenant>(
                    tenant,
                    &ctx(Actor::User(ADMIN)),
                    TenantCommand::GrantRole { user_id, role: Role::HrManager },
                )
                .await
                .unwrap();
        }
    }
    // Snapshots are written in the background.
    let mut waited = 0;
    while snapshots.load(&commands::stream_name::<Tenant>(tenant)).await.unwrap().is_none_or(|s| s.version < 49) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
        assert!(waited < 1000, "no snapshot taken");
    }
    let with = commands.load::<Tenant>(tenant).await.unwrap();
    let without = commands.load_without_snapshot::<Tenant>(tenant).await.unwrap();
    assert!(with.snapshot_version.is_some());
    assert_eq!(without.snapshot_version, None);
    assert_eq!(with.state, without.state);
    assert_eq!(with.version, without.version);
    assert_eq!(with.state.accounts.len(), 41);

    // A past state is the log replayed up to its point, from the snapshot
    // when the snapshot lies before that point and without it otherwise.
    let log = tenant_log(&commands, tenant).await;
    for at in [0, 3, 20, 49, log.len() - 1] {
        let past = commands.load_as_of::<Tenant>(tenant, commands::AsOf::Position(log[at].position)).await.unwrap();
        let folded = fold_all(&log[..=at]);
        assert_eq!(past.state, folded, "as of version {at}");
        assert_eq!(past.version, Some(log[at].version));
    }
    let before = commands.load_as_of::<Tenant>(tenant, commands::AsOf::Position(0)).await.unwrap();
    assert_eq!((before.version, before.state), (None, Tenant::default()));

    // A snapshot of another schema version is ignored.
    let stream = commands::stream_name::<Tenant>(tenant);
    snapshots
        .save(Snapshot { stream: stream.clone(), version: 54, schema_version: 99, state: b"{}".to_vec(), seal: None })
        .await
        .unwrap();
    let ignored = commands.load::<Tenant>(tenant).await.unwrap();
    assert_eq!(ignored.snapshot_version, None);
    assert_eq!(ignored.state, without.state);
}

#[tokio::test]
async fn a_state_kept_between_commands_goes_stale_when_another_process_writes_and_is_reloaded() {
    let setup = Setup::new();
    let store = setup.store();
    let (first, _) = setup.commands(store.clone(), 100).await;
    let (second, _) = setup.commands(store.clone(), 100).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("kim")).await.unwrap();
    // Another process takes the ID `lee`; the first one's kept state does
    // not know it.
    second.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("lee")).await.unwrap();
    let refused = first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("lee")).await;
    assert!(
        matches!(&refused, Err(CommandError::Rejected(e)) if e.kind() == ErrorKind::Conflict && e.rule() == Some("T4")),
        "{refused:?}"
    );
    first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("park")).await.unwrap();
    let state = first.load_without_snapshot::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 4);
}

/// The store, with how many appends it was asked for and how many of them
/// met another writer; and, as another process sees it while the notice of
/// new events is on its way, with a head that stays where it was (so a
/// command log following it learns nothing new).
struct Seen {
    store: Arc<dyn EventStore>,
    /// Set for the other process's view.
    head: Option<tokio::sync::watch::Sender<u64>>,
    appends: std::sync::atomic::AtomicUsize,
    conflicts: std::sync::atomic::AtomicUsize,
}

impl Seen {
    fn new(store: Arc<dyn EventStore>, head: Option<tokio::sync::watch::Sender<u64>>) -> Self {
        Self { store, head, appends: Default::default(), conflicts: Default::default() }
    }
}

#[async_trait::async_trait]
impl EventStore for Seen {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        self.appends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let appended = self.store.append(stream, expected, events).await;
        if matches!(appended, Err(StoreError::Conflict { .. })) {
            self.conflicts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        appended
    }

    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_stream(stream, direction, from, max).await
    }

    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_all(after, max).await
    }

    fn head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.head.as_ref().map_or_else(|| self.store.head(), tokio::sync::watch::Sender::subscribe)
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        self.store.set_stream_metadata(stream, metadata).await
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        self.store.stream_metadata(stream).await
    }
}

/// Two pipelines on one store, as two processes: the second never hears of
/// the first's commands, it only finds them in the streams it reads.
async fn two_processes(setup: &Setup) -> (Arc<dyn EventStore>, Arc<Commands>, Arc<Commands>) {
    let store = setup.store();
    let (first, _) = setup.commands(store.clone(), 100).await;
    let second = another_process(setup, &store).await;
    (store, first, second)
}

async fn another_process(setup: &Setup, store: &Arc<dyn EventStore>) -> Arc<Commands> {
    let head = tokio::sync::watch::Sender::new(*store.head().borrow());
    setup.commands(Arc::new(Seen::new(store.clone(), Some(head))), 100).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_id_sent_to_two_processes_at_once_has_one_effect_and_one_answer() {
    let setup = Setup::new();
    let (_, first, second) = two_processes(&setup).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    for round in 0..20 {
        let context = ctx(Actor::User(ADMIN));
        // Each process makes its own new user id, as the API does for a
        // command without a client id: only the stored events may answer.
        let login = format!("user{round}");
        let (a, b) = tokio::join!(
            first.execute::<Tenant>(tenant, &context, create(&login)),
            second.execute::<Tenant>(tenant, &context, create(&login)),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.events, b.events, "round {round}");
        assert_eq!(a.position, b.position, "round {round}");
        assert!(a.repeated != b.repeated, "round {round}: one applied it, the other repeated it");
    }
    let state = first.load_without_snapshot::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 21);
    assert_eq!(state.version, Some(21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_applied_by_another_process_answers_with_its_events_instead_of_a_refusal() {
    let setup = Setup::new();
    let (_, first, second) = two_processes(&setup).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let context = ctx(Actor::User(ADMIN));
    let applied = first.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    // The second has not learned the command id, and on the stream as it is
    // now the ID `kim` is taken: the stored answer, not "already taken".
    let again = second.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    assert!(again.repeated);
    assert_eq!(again.events, applied.events);
    assert_eq!(again.position, applied.position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commands_on_one_stream_through_several_processes_are_all_decided() {
    let setup = Setup::new();
    let (store, first, second) = two_processes(&setup).await;
    let mut processes = vec![first.clone(), second];
    for _ in 0..4 {
        processes.push(another_process(&setup, &store).await);
    }
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let tasks: Vec<_> = (0..96)
        .map(|i| {
            let commands = processes[i % processes.len()].clone();
            tokio::spawn(async move {
                commands.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create(&format!("user{i}"))).await
            })
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        match result.unwrap() {
            Ok(outcome) => assert!(!outcome.repeated),
            Err(e) => panic!("every command is decided, not {e}"),
        }
    }
    let state = first.load_without_snapshot::<Tenant>(tenant).await.unwrap();
    assert_eq!(state.state.accounts.len(), 97);
}

#[tokio::test]
async fn a_command_id_reused_for_another_command_on_the_same_stream_is_refused() {
    let setup = Setup::new();
    let (store, first, second) = two_processes(&setup).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let context = ctx(Actor::User(ADMIN));
    let created = first.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    let TenantEvent::UserCreated { user_id, .. } = created.events[0] else { panic!() };
    let head = *store.head().borrow();
    let grant = TenantCommand::GrantRole { user_id, role: Role::HrManager };
    // Another kind of command, in this process or another.
    for commands in [&first, &second] {
        let reused = commands.execute::<Tenant>(tenant, &context, grant.clone()).await;
        assert!(matches!(reused, Err(CommandError::CommandIdReused(id)) if id == context.command_id), "{reused:?}");
    }
    // The same kind of command by another user.
    let mut other_user = context.clone();
    other_user.actor = Actor::User(user_id);
    let reused = first.execute::<Tenant>(tenant, &other_user, create("lee")).await;
    assert!(matches!(reused, Err(CommandError::CommandIdReused(_))), "{reused:?}");
    assert_eq!(*store.head().borrow(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_with_nothing_left_to_do_after_another_process_applied_it_answers_with_its_events() {
    let setup = Setup::new();
    let (_, first, second) = two_processes(&setup).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let created = first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("kim")).await.unwrap();
    let TenantEvent::UserCreated { user_id, .. } = created.events[0] else { panic!() };
    // As the API and the process managers both number a completed document:
    // the second finds the role granted, and answers with the grant and its
    // position (which its caller waits for), not with nothing at position 0.
    let context = ctx(Actor::User(ADMIN));
    let grant = TenantCommand::GrantRole { user_id, role: Role::HrManager };
    let granted = first.execute::<Tenant>(tenant, &context, grant.clone()).await.unwrap();
    let again = second.execute::<Tenant>(tenant, &context, grant).await.unwrap();
    assert!(again.repeated);
    assert_eq!(again.events, granted.events);
    assert_eq!(again.position, granted.position);
}

#[tokio::test]
async fn a_kept_state_never_refuses_a_command_that_the_stored_state_allows() {
    let setup = Setup::new();
    let (_, first, second) = two_processes(&setup).await;
    let tenant = domain().tenant_id();
    first.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("kim")).await.unwrap();
    // Another process creates lee; the first process's kept state does not
    // know lee, the store does.
    let created = second.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), create("lee")).await.unwrap();
    let TenantEvent::UserCreated { user_id, .. } = created.events[0] else { panic!() };
    let deleted =
        first.execute::<Tenant>(tenant, &ctx(Actor::User(ADMIN)), TenantCommand::DeleteUser { user_id }).await;
    assert!(matches!(&deleted, Ok(outcome) if outcome.events.len() == 1), "{deleted:?}");
}

// rules U1, B3: a command whose events were sealed with a key since
// destroyed was carried out; repeating its id answers so, with nothing left
// to show, instead of calling the id reused (the process managers repeat
// every follow-up from the start of the log after a restart).
#[tokio::test]
async fn a_repeated_command_id_whose_events_were_shredded_answers_as_done() {
    use store::sealing::{Sealed, Sealer, SqliteKeys};
    let setup = Setup::new();
    let sealer = Arc::new(Sealer::new(Arc::new(SqliteKeys::open(setup.dir.path().join("keys.db")).unwrap())));
    let store: Arc<dyn EventStore> = Arc::new(Sealed::new(setup.store(), sealer.clone()));
    let (commands, _) = setup.commands(store.clone(), 100).await;
    let tenant = domain().tenant_id();
    commands.execute::<Tenant>(tenant, &ctx(Actor::Anonymous), sign_up()).await.unwrap();
    let context = ctx(Actor::User(ADMIN));
    let first = commands.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    assert!(!first.repeated && !first.events.is_empty());
    let head = *store.head().borrow();
    sealer.destroy_tenant(tenant).await.unwrap();
    let again = commands.execute::<Tenant>(tenant, &context, create("kim")).await.unwrap();
    assert!(again.repeated);
    assert_eq!((again.events, again.position), (vec![], first.position));
    assert_eq!(*store.head().borrow(), head, "nothing appended");
}

/// Numbers taken at once by 64 completions of one company in one process go
/// in a few appends, one after the other: a batch is appended only once the
/// one before it is, so none meets another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_taken_at_once_go_in_batches_that_never_meet() {
    use domain::approval::{AssignNumber, DocumentNumbers};
    let setup = Setup::new();
    let seen = Arc::new(Seen::new(setup.store(), None));
    let (commands, _) = setup.commands(seen.clone(), 100).await;
    let tenant = Uuid::now_v7();
    let numbers = DocumentNumbers::id(tenant, 2026);
    let asked: Vec<_> = (0..64)
        .map(|_| {
            let commands = commands.clone();
            tokio::spawn(async move {
                let context = CommandContext::new(Uuid::now_v7(), Actor::System, Some(tenant));
                let assign = AssignNumber { document_id: Uuid::now_v7(), prefix: "ACME".into(), year: 2026 };
                commands.execute::<DocumentNumbers>(numbers, &context, assign).await.unwrap()
            })
        })
        .collect();
    for task in asked {
        task.await.unwrap();
    }
    let (appends, conflicts) = (
        seen.appends.load(std::sync::atomic::Ordering::SeqCst),
        seen.conflicts.load(std::sync::atomic::Ordering::SeqCst),
    );
    assert_eq!(conflicts, 0, "a batch met another ({appends} appends)");
    assert!(appends <= 32, "64 numbers took {appends} appends");
}

/// Numbers taken at once by 64 completions of one company in two processes
/// (a stream whose commands go in batches): every document gets one number,
/// the numbers run from 1 without a gap, each answer is the stored one, and
/// a number asked for again is the one given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_taken_at_once_in_batches_are_gap_free_and_each_documents_own() {
    use domain::approval::numbering::NumberingEvent;
    use domain::approval::{AssignNumber, DocumentNumbers};
    let setup = Setup::new();
    let (store, this, other) = two_processes(&setup).await;
    let tenant = Uuid::now_v7();
    let numbers = DocumentNumbers::id(tenant, 2026);
    let documents: Vec<Uuid> = (0..64).map(|_| Uuid::now_v7()).collect();
    let ask = |commands: &Arc<Commands>, document: Uuid| {
        let commands = commands.clone();
        let command_id = Uuid::new_v5(&document, b"number");
        async move {
            let context = CommandContext::new(command_id, Actor::System, Some(tenant));
            let assign = AssignNumber { document_id: document, prefix: "ACME".into(), year: 2026 };
            commands.execute::<DocumentNumbers>(numbers, &context, assign).await.unwrap()
        }
    };
    let asked: Vec<_> = documents
        .iter()
        .enumerate()
        .map(|(i, document)| tokio::spawn(ask(if i % 2 == 0 { &this } else { &other }, *document)))
        .collect();
    let mut given = std::collections::BTreeMap::new();
    for task in asked {
        let outcome = task.await.unwrap();
        assert!(!outcome.repeated, "answered from its own append");
        let [NumberingEvent::Assigned { document_id, sequence, .. }] = outcome.events.as_slice() else {
            panic!("{:?}", outcome.events)
        };
        assert!(given.insert(*sequence, *document_id).is_none(), "number {sequence} given twice");
    }
    assert_eq!(given.keys().copied().collect::<Vec<_>>(), (1..=64).collect::<Vec<u32>>());
    let stored =
        store.read_stream(&format!("docnumbers-{}", numbers.simple()), Direction::Forwards, None, 100).await.unwrap();
    assert_eq!(stored.len(), 64);
    for event in &stored {
        let NumberingEvent::Assigned { document_id, sequence, .. } = event.decode().unwrap();
        assert_eq!(given[&sequence], document_id, "the answer is the stored number");
    }
    let again = ask(&other, documents[7]).await;
    let NumberingEvent::Assigned { document_id, .. } = &again.events[0];
    assert_eq!(*document_id, documents[7]);
    assert!(again.repeated);
}
