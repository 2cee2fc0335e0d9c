//! Mail search over a mailbox of 100,000 mails, in an index on disk that
//! holds as many again of 99 colleagues: how fast the mails are written
//! into it, its size, and the latency of the first page (20 hits, newest
//! first, with the count) of a mix of searches: common and rare words,
//! Korean words inside longer ones, English prefixes, a sender, a folder
//! and a date range. The texts are made from fixed word lists by a seeded
//! generator, so every run searches the same index. The process's resident
//! memory (anonymous, not the index files it maps) after writing and after
//! searching. One line each:
//! `bench <name> <value> <unit>`.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use domain::mail::Folder;
use search::{MailDocument, MailIndex, MailSearch};
use tests::workload::{Seeded, report, resident_mb};
use uuid::Uuid;

/// The mails of the mailbox searched.
const MAILBOX: usize = 100_000;
/// The colleagues, who hold as many mails again between them.
const COLLEAGUES: usize = 99;
/// Times each search of the mix runs.
const ROUNDS: usize = 200;

const KOREAN: &[&str] = &[
    "회의",
    "회의록을",
    "예산",
    "분기",
    "보고서",
    "검토",
    "부탁드립니다",
    "일정",
    "공유",
    "첨부",
    "확인",
    "결재",
    "휴가",
    "신청",
    "프로젝트",
    "진행",
    "상황",
    "고객",
    "계약",
    "견적서",
    "출장",
    "교육",
    "안내",
    "변경",
    "요청",
    "자료",
];
const ENGLISH: &[&str] = &[
    "meeting",
    "budget",
    "quarterly",
    "report",
    "review",
    "schedule",
    "please",
    "attached",
    "notes",
    "customer",
    "contract",
    "update",
    "project",
    "deadline",
    "invoice",
    "travel",
    "training",
    "agenda",
    "summary",
    "draft",
];
/// A word one mail in a thousand holds.
const RARE: &str = "zeppelin";

/// `words` words from the lists (one in three English), and now and then
/// the rare one: the same texts every run.
fn text(seeded: &mut Seeded, words: usize) -> String {
    let mut text = Vec::with_capacity(words + 1);
    for _ in 0..words {
        let list = if seeded.draw().is_multiple_of(3) { ENGLISH } else { KOREAN };
        text.push(list[seeded.below(list.len())]);
    }
    if seeded.draw().is_multiple_of(1000) {
        text.push(RARE);
    }
    text.join(" ")
}

fn user(n: usize) -> Uuid {
    Uuid::from_u128(1000 + n as u128)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap()
}

/// The mails: the first `MAILBOX` held by user 0 (in the inbox, the sent
/// folder, the trash or a folder of theirs), as many again by the others,
/// over five years.
fn mails(tenant: Uuid) -> impl Iterator<Item = MailDocument> {
    let mut words = Seeded(0x5eed_ba11);
    let own = Folder::User(Uuid::from_u128(7));
    (0..MAILBOX * 2).map(move |i| {
        let holder = if i % 2 == 0 { user(0) } else { user(1 + i % COLLEAGUES) };
        let folder = match words.draw() % 20 {
            0..=12 => Folder::Inbox,
            13..=16 => Folder::Sent,
            17 => Folder::Trash,
            _ if holder == user(0) => own,
            _ => Folder::Inbox,
        };
        let sender = user(words.draw() as usize % (COLLEAGUES + 1));
        MailDocument {
            tenant,
            mail: Uuid::from_u128(i as u128 + 1),
            holders: vec![(holder, folder)],
            at: start() + chrono::Duration::minutes(i as i64 * 13),
            sender: format!("동료{} <user{}@bench.co.kr>", sender.as_u128() % 1000, sender.as_u128() % 1000),
            recipients: vec![format!("user{}@bench.co.kr", holder.as_u128() % 1000)],
            subject: text(&mut words, 4),
            body: text(&mut words, 60),
        }
    })
}

fn main() {
    let folder = tempfile::tempdir().expect("temp dir");
    let tenant = Uuid::from_u128(1);
    let index = MailIndex::open(Some(folder.path()), "mailboxes").expect("index");
    let started = Instant::now();
    let mut mails = mails(tenant).peekable();
    while mails.peek().is_some() {
        index.load(mails.by_ref().take(10_000)).expect("load");
    }
    report("search_index_written", (MAILBOX * 2) as f64 / started.elapsed().as_secs_f64(), "mails/s");
    let loaded = resident_mb();
    report("search_resident_memory_loaded", loaded, "MB");
    let size: u64 = std::fs::read_dir(folder.path())
        .expect("index folder")
        .filter_map(|f| f.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    report("search_index_size", size as f64 / 1e6, "MB");

    let end = start() + chrono::Duration::minutes((MAILBOX * 2) as i64 * 13);
    let mix: Vec<(&str, MailSearch)> = vec![
        ("korean_common", MailSearch { anywhere: "회의".into(), ..MailSearch::default() }),
        ("korean_inside_words", MailSearch { anywhere: "회의록".into(), ..MailSearch::default() }),
        ("korean_two_words", MailSearch { anywhere: "분기 예산".into(), ..MailSearch::default() }),
        ("korean_one_syllable", MailSearch { anywhere: "휴".into(), ..MailSearch::default() }),
        ("english_prefix", MailSearch { anywhere: "meet".into(), ..MailSearch::default() }),
        ("english_two_words", MailSearch { anywhere: "quarterly report".into(), ..MailSearch::default() }),
        ("rare_word", MailSearch { anywhere: RARE.into(), ..MailSearch::default() }),
        ("sender", MailSearch { sender: "user42@bench.co.kr".into(), ..MailSearch::default() }),
        (
            "folder_and_word",
            MailSearch { folder: Some(Folder::Trash), anywhere: "보고서".into(), ..MailSearch::default() },
        ),
        (
            "last_month_and_word",
            MailSearch {
                since: Some(end - chrono::Duration::days(30)),
                subject: "결재".into(),
                ..MailSearch::default()
            },
        ),
    ];
    let mut all = Vec::with_capacity(mix.len() * ROUNDS);
    let mut slowest = ("", Duration::ZERO);
    for (name, search) in &mix {
        let hits = index.search(tenant, user(0), search, 0, 20).expect("search");
        assert!(hits.total > 0 && hits.mails.len() == hits.total.min(20), "{name}: {hits:?}");
        let mut latencies: Vec<Duration> = (0..ROUNDS)
            .map(|_| {
                let asked = Instant::now();
                let hits = index.search(tenant, user(0), search, 0, 20).expect("search");
                let took = asked.elapsed();
                assert!(!hits.mails.is_empty());
                took
            })
            .collect();
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100];
        println!("# {name}: {} hits, p50 {:.2?}, p99 {p99:.2?}", hits.total, latencies[latencies.len() / 2]);
        if p99 > slowest.1 {
            slowest = (name, p99);
        }
        all.extend(latencies);
    }
    all.sort();
    report("search_page_p50", all[all.len() / 2].as_secs_f64() * 1000.0, "ms");
    report("search_page_p99", all[all.len() * 99 / 100].as_secs_f64() * 1000.0, "ms");
    println!("# slowest kind: {} (p99 {:.2?})", slowest.0, slowest.1);
    report("search_resident_memory_searched", resident_mb(), "MB");
}
