//! The `groupware` binary: its help, and `rebuild` on an event log.

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use commands::{CommandContext, Commands, ManualClock};
use domain::Actor;
use domain::tenant::{NewAccount, Tenant, TenantCommand};
use domain::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, TimeZone};
use store::sqlite::SqliteEventStore;
use uuid::Uuid;

fn groupware(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_groupware")).args(args).output().expect("binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn help_explains_each_subcommand_and_flag() {
    let (ok, top) = groupware(&["--help"]);
    assert!(ok);
    assert!(["serve", "rebuild", "verify", "archive"].iter().all(|c| top.contains(c)), "{top}");
    let (ok, archive) = groupware(&["archive", "--help"]);
    assert!(ok);
    assert!(["export", "verify", "replay"].iter().all(|c| archive.contains(c)), "{archive}");
    let (ok, missing) = groupware(&["archive", "verify", "/nonexistent/archive.zip"]);
    assert!(!ok);
    assert!(missing.contains("No such file"), "{missing}");
    let (ok, serve) = groupware(&["serve", "--help"]);
    assert!(ok);
    for flag in [
        "--data-dir",
        "--port",
        "--host",
        "--clock",
        "--token-ttl-hours",
        "--snapshot-every",
        "--max-body-bytes",
        "GROUPWARE_PORT",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}:\n{serve}");
    }
    let (ok, wrong) = groupware(&["serve", "--clock", "sundial"]);
    assert!(!ok);
    assert!(wrong.contains("sundial"), "{wrong}");
}

#[tokio::test]
async fn rebuild_replays_the_whole_log_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, missing) = groupware(&["rebuild", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(missing.contains("no event store"), "{missing}");

    let store = Arc::new(SqliteEventStore::open(dir.path().join("events.db"), store::system_now()).unwrap());
    let commands = Arc::new(
        Commands::new(
            store,
            None,
            Default::default(),
            Arc::new(ManualClock::new(Utc::now())),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap(),
    );
    let domain = DomainName::parse("cli.co.kr").unwrap();
    let tenant = domain.tenant_id();
    let sign_up = TenantCommand::SignUp {
        domain,
        company_name: Name::parse("companyName", "회사").unwrap(),
        member_type: MemberType::Individual,
        billing_cycle: BillingCycle::parse(1).unwrap(),
        time_zone: TimeZone::default(),
        admin: NewAccount {
            user_id: Uuid::now_v7(),
            login: LoginId::parse("admin").unwrap(),
            name: Name::parse("name", "관리자").unwrap(),
            password_hash: PasswordHash("hash".into()),
        },
    };
    commands
        .execute::<Tenant>(tenant, &CommandContext::new(Uuid::now_v7(), Actor::Anonymous, Some(tenant)), sign_up)
        .await
        .unwrap();
    drop(commands);
    let (ok, report) = groupware(&["rebuild", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(ok, "{report}");
    assert!(report.contains("rebuilt read models from 2 events"), "{report}");

    // The same log verifies against its chain; the checkpoints' key is the
    // one beside the data or the one an auditor gives.
    let data_dir = dir.path().to_str().unwrap();
    let (ok, keyless) = groupware(&["verify", "--data-dir", data_dir]);
    assert!(!ok);
    assert!(keyless.contains("no checkpoint key") && keyless.contains("--public-key"), "{keyless}");
    let key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let (ok, verified) = groupware(&["verify", "--data-dir", data_dir, "--public-key", key]);
    assert!(ok, "{verified}");
    assert!(verified.contains("verified: 2 events read, 2 links checked, 1 company"), "{verified}");
    let (ok, unknown) = groupware(&["verify", "--data-dir", data_dir, "--public-key", key, "--company", "none.co.kr"]);
    assert!(!ok);
    assert!(unknown.contains("no company holds the domain none.co.kr"), "{unknown}");
    let (ok, bad_key) = groupware(&["verify", "--data-dir", data_dir, "--public-key", "abc"]);
    assert!(!ok);
    assert!(bad_key.contains("--public-key: not a public key"), "{bad_key}");
}

#[test]
fn serve_fails_with_a_clear_message_when_a_store_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // A build without an adapter says which feature brings it.
    let (postgres_events, postgres_read_models, eventstoredb) = (
        if cfg!(feature = "postgres") {
            "connecting to the PostgreSQL event store at postgres://app:***@127.0.0.1:1/none"
        } else {
            "postgres://app:***@127.0.0.1:1/none names PostgreSQL, which this build of the server leaves out: \
             build it with `--features postgres`"
        },
        if cfg!(feature = "postgres") { "connecting to the PostgreSQL read models" } else { "--features postgres" },
        if cfg!(feature = "eventstoredb") {
            "connecting to EventStoreDB at esdb://127.0.0.1:1"
        } else {
            "esdb://127.0.0.1:1?tls=false names EventStoreDB, which this build of the server leaves out"
        },
    );
    for (flag, store, says) in [
        ("--events", "postgres://app:secret@127.0.0.1:1/none", postgres_events),
        ("--read-models", "postgres://127.0.0.1:1/none", postgres_read_models),
        ("--events", "esdb://127.0.0.1:1?tls=false", eventstoredb),
        ("--events", "mysql://127.0.0.1/none", "is not `embedded`, a postgres:// URL or an esdb:// connection string"),
    ] {
        let (ok, output) = groupware(&["serve", "--port", "0", "--data-dir", data_dir, flag, store]);
        assert!(!ok, "{store} started");
        assert!(output.contains(says), "{store}: {output}");
        assert!(!output.contains("secret"), "the password leaked: {output}");
    }
}
