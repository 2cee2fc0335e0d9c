//! Searches over documents written straight into an index in memory.

use chrono::TimeZone;

use super::*;

const FOLLOWS: &str = "mailboxes.v1";
const ACME: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);
const KIM: Uuid = Uuid::from_u128(10);
const LEE: Uuid = Uuid::from_u128(11);

struct Mail {
    id: u128,
    tenant: Uuid,
    holders: &'static [(Uuid, Folder)],
    day: u32,
    from: &'static str,
    to: &'static str,
    subject: &'static str,
    body: &'static str,
}

const MAILS: &[Mail] = &[
    Mail {
        id: 1,
        tenant: ACME,
        holders: &[(KIM, Folder::Sent), (LEE, Folder::Inbox)],
        day: 1,
        from: "김철수 <kim@acme.kr>",
        to: "lee@acme.kr",
        subject: "3분기 예산 회의록",
        body: "Quarterly budget meeting notes 회의록을 첨부합니다",
    },
    Mail {
        id: 2,
        tenant: ACME,
        holders: &[(LEE, Folder::Trash)],
        day: 2,
        from: "partner@example.com",
        to: "lee@acme.kr",
        subject: "Lunch",
        body: "noodles at noon",
    },
    Mail {
        id: 3,
        tenant: ACME,
        holders: &[(LEE, Folder::Inbox)],
        day: 3,
        from: "park@acme.kr",
        to: "lee@acme.kr, kim@acme.kr",
        subject: "Q3보고서 초안",
        body: "보고서 초안입니다. 김 과장님 검토 부탁드립니다",
    },
    Mail {
        id: 4,
        tenant: OTHER,
        holders: &[(LEE, Folder::Inbox)],
        day: 4,
        from: "kim@other.kr",
        to: "lee@other.kr",
        subject: "예산",
        body: "another company's budget",
    },
];

fn index() -> MailIndex {
    let index = MailIndex::open(None, FOLLOWS).unwrap();
    index
        .load(MAILS.iter().map(|mail| MailDocument {
            tenant: mail.tenant,
            mail: Uuid::from_u128(mail.id),
            holders: mail.holders.to_vec(),
            at: Utc.with_ymd_and_hms(2026, 11, mail.day, 9, 0, 0).unwrap(),
            sender: mail.from.to_owned(),
            recipients: mail.to.split(", ").map(str::to_owned).collect(),
            subject: mail.subject.to_owned(),
            body: mail.body.to_owned(),
        }))
        .unwrap();
    index
}

fn found(index: &MailIndex, user: Uuid, search: MailSearch) -> Vec<u128> {
    let hits = index.search(ACME, user, &search, 0, 10).unwrap();
    assert_eq!(hits.total, hits.mails.len());
    hits.mails.iter().map(Uuid::as_u128).collect()
}

fn anywhere(words: &str) -> MailSearch {
    MailSearch { anywhere: words.to_owned(), ..MailSearch::default() }
}

#[test]
fn korean_words_are_found_inside_longer_words_and_with_particles() {
    let index = index();
    assert_eq!(found(&index, LEE, anywhere("회의록")), [1]);
    assert_eq!(found(&index, LEE, anywhere("예산")), [1], "another company's mail is not searched");
    assert_eq!(found(&index, LEE, anywhere("보고서")), [3]);
    assert_eq!(found(&index, LEE, anywhere("초안")), [3]);
    assert_eq!(found(&index, LEE, anywhere("김")), [3, 1], "one syllable, alone or in a longer word");
    assert_eq!(found(&index, LEE, anywhere("회의 보고서")), Vec::<u128>::new(), "every word must be found");
    assert_eq!(found(&index, LEE, anywhere("의록회")), Vec::<u128>::new(), "bigrams must stand in a row");
}

#[test]
fn english_words_match_whole_or_as_their_start() {
    let index = index();
    assert_eq!(found(&index, LEE, anywhere("QUARTERLY budget")), [1]);
    assert_eq!(found(&index, LEE, anywhere("meet")), [1]);
    assert_eq!(found(&index, LEE, anywhere("eeting")), Vec::<u128>::new());
    assert_eq!(found(&index, LEE, anywhere("q3")), [3]);
    assert_eq!(found(&index, LEE, anywhere("kim@acme.kr")), [3, 1], "an address as a sender or a recipient");
}

#[test]
fn each_part_looks_in_its_own_field() {
    let index = index();
    let sender = MailSearch { sender: "kim@acme.kr".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, sender), [1]);
    let recipient = MailSearch { recipient: "kim".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, recipient), [3]);
    let subject = MailSearch { subject: "lunch".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, subject), [2]);
    let body = MailSearch { body: "lunch".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, body), Vec::<u128>::new());
    let both = MailSearch { subject: "초안".into(), body: "검토".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, both), [3]);
}

#[test]
fn folders_and_dates_narrow_the_holders_mail() {
    let index = index();
    let inbox = MailSearch { folder: Some(Folder::Inbox), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, inbox.clone()), [3, 1]);
    assert_eq!(found(&index, KIM, inbox), Vec::<u128>::new(), "kim holds mail 1 in sent");
    let trash = MailSearch { folder: Some(Folder::Trash), anywhere: "noon".into(), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, trash), [2]);
    let day = |d| Some(Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap());
    let days = MailSearch { since: day(2), until: day(3), ..MailSearch::default() };
    assert_eq!(found(&index, LEE, days), [2], "from the start of the 2nd to before the 3rd");
    assert_eq!(found(&index, KIM, anywhere("noodles")), Vec::<u128>::new(), "only one's own mailbox");
}

#[test]
fn pages_come_newest_first_with_the_whole_count() {
    let index = index();
    let every = MailSearch { since: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()), ..MailSearch::default() };
    let first = index.search(ACME, LEE, &every, 0, 2).unwrap();
    assert_eq!(first.total, 3);
    assert_eq!(first.mails, [Uuid::from_u128(3), Uuid::from_u128(2)]);
    let next = index.search(ACME, LEE, &every, 2, 2).unwrap();
    assert_eq!(next.mails, [Uuid::from_u128(1)]);
}

#[test]
fn a_search_of_nothing_is_empty() {
    assert!(MailSearch { anywhere: " ,. ".into(), ..MailSearch::default() }.is_empty());
    assert!(!MailSearch { folder: Some(Folder::Inbox), ..MailSearch::default() }.is_empty());
}

#[test]
fn the_index_on_disk_keeps_its_place_and_one_writer() {
    let folder = tempfile::tempdir().unwrap();
    {
        let index = MailIndex::open(Some(folder.path()), FOLLOWS).unwrap();
        assert_eq!(index.position(), 0);
        let second = MailIndex::open(Some(folder.path()), FOLLOWS).unwrap();
        assert!(second.writer.lock().unwrap().is_none(), "one writer at a time");
        let mut writer = index.writer.lock().unwrap().take().unwrap();
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload(&place_payload(FOLLOWS, 42));
        prepared.commit().unwrap();
        second.follow_commits().unwrap();
        assert_eq!(second.position(), 42, "the second follows the first's commits");
    }
    assert_eq!(MailIndex::open(Some(folder.path()), FOLLOWS).unwrap().position(), 42);
    let other = MailIndex::open(Some(folder.path()), "mailboxes.v2").unwrap();
    assert_eq!(other.position(), 0, "an index of another read model starts again");
}

#[test]
fn deep_pages_and_long_searches_are_refused() {
    let index = index();
    let every = MailSearch { folder: Some(Folder::Inbox), ..MailSearch::default() };
    assert!(matches!(index.search(ACME, LEE, &every, MAX_OFFSET + 1, 20), Err(SearchError::TooDeep)));
    assert!(matches!(index.search(ACME, LEE, &every, 0, MAX_LIMIT + 1), Err(SearchError::TooDeep)));
    let words: Vec<String> = (0..=MAX_WORDS).map(|i| format!("w{i}")).collect();
    let many = MailSearch { anywhere: words.join(" "), ..MailSearch::default() };
    assert_eq!(many.word_count(), MAX_WORDS + 1);
    assert!(matches!(index.search(ACME, LEE, &many, 0, 20), Err(SearchError::TooManyWords)));
    let repeated = MailSearch { anywhere: "이 ".repeat(200), ..MailSearch::default() };
    assert_eq!(repeated.word_count(), 1, "a word asked for twice counts once");
    assert!(index.search(ACME, LEE, &repeated, 0, 20).is_ok());
}

#[test]
fn erasing_rewrites_segments_without_the_deleted_documents_terms() {
    let index = index();
    let writer = std::sync::Mutex::new(index.writer.lock().unwrap().take().unwrap());
    let gone = Term::from_field_text(index.fields.key, &key(ACME, Uuid::from_u128(2)));
    writer.lock().unwrap().delete_term(gone);
    index.commit(&writer, 0).unwrap();
    index.reader.reload().unwrap();
    assert_eq!(found(&index, LEE, anywhere("noodles")), Vec::<u128>::new());
    assert!(index.holds_terms_of("noodles").unwrap(), "a deleted document's terms stay until its segment is rewritten");
    index.erase(&writer).unwrap();
    assert!(!index.holds_terms_of("noodles").unwrap());
    assert_eq!(found(&index, LEE, anywhere("회의록")), [1], "the other mails stay");
}
