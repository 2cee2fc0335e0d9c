//! Years of history on the embedded default, one line each:
//! `bench <name> <value> <unit>`.
//!
//! A data directory is filled through the real server's command pipeline
//! (sealed payloads, the hash chain, the process managers running) with a
//! company of 400 users mailing each other over months, on a manual clock:
//! `GROUPWARE_BENCH_EVENTS` events (1,000,000 by default; `make bench-scale`
//! asks for 10,000,000), deterministic from a seed. Then, each in a fresh
//! process of its own (this program started again): the first start, which
//! builds the on-disk read models from the whole log (events/s), and a
//! start on read models that missed nothing — the time until `/healthz`
//! says ready and the resident memory then; and `groupware rebuild` of the
//! read models from the whole log (events/s).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{Application, ClockKind, ReadModelKind, Settings};
use commands::CommandContext;
use domain::Actor;
use domain::mail::message::{Content, DEFAULT_ATTACHMENT_LIMIT, Recipient, RecipientKind};
use domain::mail::{MailAddress, Mailbox, MailboxAction, MailboxCommand, OutgoingMail, ResetOffer};
use domain::tenant::{NewAccount, Tenant, TenantCommand};
use domain::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, TimeZone};
use tests::workload::{Seeded, report, resident_mb};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 400;
/// Mails each user sends a day (each to one to three colleagues, well under
/// the daily limit of rule E1).
const MAILS_A_DAY: usize = 60;
/// Senders at once.
const WRITERS: usize = 64;
const DOMAIN: &str = "history.co.kr";

fn settings(dir: &Path, read_models: ReadModelKind) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        read_models,
        port: 0,
        clock: ClockKind::Manual,
        clock_start: Some("2022-01-03T00:00:00Z".parse().expect("time")),
        password_memory_kib: 1024,
        ..Settings::default()
    }
}

/// Fills `dir` with about `events` events through the server's pipeline;
/// events per second.
async fn generate(dir: &Path, events: u64) -> f64 {
    // Read models in memory: the file is for the starts to build.
    let app = Application::build(settings(dir, ReadModelKind::Memory)).await.expect("server");
    let backend = app.backend().clone();
    let clock = backend.manual_clock.clone().expect("a manual clock");
    let domain = DomainName::parse(DOMAIN).expect("domain");
    let tenant = domain.tenant_id();
    let account = |login: &str| NewAccount {
        user_id: Uuid::new_v5(&tenant, login.as_bytes()),
        login: LoginId::parse(login).expect("login"),
        name: Name::parse("name", "사용자").expect("name"),
        password_hash: PasswordHash("generated".into()),
    };
    let admin = account("admin");
    let admin_id = admin.user_id;
    let sign_up = TenantCommand::SignUp {
        domain,
        company_name: Name::parse("companyName", "역사").expect("name"),
        member_type: MemberType::Business,
        billing_cycle: BillingCycle::parse(12).expect("cycle"),
        time_zone: TimeZone::default(),
        admin,
    };
    let system = |actor| CommandContext::new(Uuid::now_v7(), actor, Some(tenant));
    backend.commands.execute::<Tenant>(tenant, &system(Actor::Anonymous), sign_up).await.expect("sign up");
    let mut people = Vec::with_capacity(USERS);
    for u in 0..USERS {
        let user = account(&format!("user{u}"));
        people.push((user.user_id, MailAddress::parse(&format!("user{u}@{DOMAIN}")).expect("address")));
        let create = TenantCommand::CreateUser { account: user, roles: BTreeSet::new() };
        backend.commands.execute::<Tenant>(tenant, &system(Actor::User(admin_id)), create).await.expect("user");
    }
    let people = Arc::new(people);
    let started = Instant::now();
    let head = || *backend.store.head().borrow();
    let mut random = Seeded(0x5eed);
    let mut day = 0;
    while head() < events {
        // One working day: every user sends their mails, 64 at a time.
        let mut mails: Vec<(usize, Vec<usize>, u64)> = Vec::with_capacity(USERS * MAILS_A_DAY);
        for n in 0..USERS * MAILS_A_DAY {
            let sender = n % USERS;
            let to = (0..1 + random.below(3)).map(|_| random.below(USERS)).filter(|r| *r != sender).collect();
            mails.push((sender, to, random.draw()));
        }
        let mails = Arc::new(mails);
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (backend, people, mails) = (backend.clone(), people.clone(), mails.clone());
                tokio::spawn(async move {
                    for (sender, to, seed) in mails.iter().skip(w).step_by(WRITERS) {
                        if to.is_empty() {
                            continue;
                        }
                        let (sender_id, from) = &people[*sender];
                        let recipients = to
                            .iter()
                            .map(|r| Recipient {
                                address: people[*r].1.clone(),
                                kind: RecipientKind::To,
                                user: Some(people[*r].0),
                            })
                            .collect();
                        let text = format!("주간 업무 보고 {seed:x}: 이번 주 진행 상황을 공유드립니다. Weekly status.");
                        let content = Content::parse("주간 업무 보고", &text, None, vec![], DEFAULT_ATTACHMENT_LIMIT)
                            .expect("content");
                        let mail = OutgoingMail {
                            mail_id: Uuid::now_v7(),
                            from: from.clone(),
                            recipients,
                            content,
                            draft_id: None,
                        };
                        let offer = ResetOffer { token: Uuid::now_v7(), notice_id: Uuid::now_v7() };
                        let action = MailboxAction::Send { mail, time_zone: TimeZone::default(), offer };
                        let command = MailboxCommand { owner: *sender_id, action };
                        let context = CommandContext::new(Uuid::now_v7(), Actor::User(*sender_id), Some(tenant));
                        backend.commands.execute::<Mailbox>(*sender_id, &context, command).await.expect("sent");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer");
        }
        day += 1;
        clock.advance(chrono::Duration::days(1));
    }
    let written = head();
    let rate = written as f64 / started.elapsed().as_secs_f64();
    println!("# {written} events, {day} days of mail, written at {rate:.0} events/s");
    rate
}

/// Starts the server on `dir` in this process and waits until it is
/// ready; the time that took and the resident memory then.
async fn start(dir: &Path) -> (Duration, f64, u64) {
    let started = Instant::now();
    let app = Application::build(settings(dir, ReadModelKind::Embedded)).await.expect("server");
    let backend = app.backend().clone();
    while !backend.is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let head = *backend.store.head().borrow();
    (took, resident_mb(), head)
}

/// `groupware rebuild` of the embedded read models: the whole log into a
/// fresh file that then replaces the data directory's; events per second.
async fn rebuild(dir: &Path) -> f64 {
    let head = {
        let store = store::sqlite::SqliteEventStore::open(dir.join("events.db"), store::system_now()).expect("events");
        *store::EventStore::head(&store).borrow()
    };
    let started = Instant::now();
    let said = api::cli::rebuild(&settings(dir, ReadModelKind::Embedded)).await.expect("rebuild");
    println!("# {said}");
    head as f64 / started.elapsed().as_secs_f64()
}

/// This program again, for one step in a fresh process; its report lines.
fn again(step: &str, dir: &Path) {
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .args([step, dir.to_str().expect("path")])
        .status()
        .expect("the step runs");
    assert!(status.success(), "{step} failed");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = std::env::var("GROUPWARE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let millions = events as f64 / 1e6;
    match args.get(1).map(String::as_str) {
        Some("generate") => {
            report(&format!("history_generate_{millions}m"), generate(Path::new(&args[2]), events).await, "events/s");
        }
        Some("first-start") => {
            let (took, memory, head) = start(Path::new(&args[2])).await;
            report(
                &format!("history_first_start_builds_read_models_{millions}m"),
                head as f64 / took.as_secs_f64(),
                "events/s",
            );
            report(&format!("history_first_start_memory_{millions}m"), memory, "MB");
        }
        Some("restart") => {
            let (took, memory, _) = start(Path::new(&args[2])).await;
            report(&format!("history_restart_ready_{millions}m"), took.as_secs_f64() * 1000.0, "ms");
            report(&format!("history_restart_memory_{millions}m"), memory, "MB");
        }
        Some("rebuild") => {
            report(&format!("history_rebuild_read_models_{millions}m"), rebuild(Path::new(&args[2])).await, "events/s");
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            for step in ["generate", "first-start", "restart", "rebuild"] {
                again(step, dir.path());
            }
        }
    }
}
