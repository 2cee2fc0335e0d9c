//! The embedded files hold no plain byte of what is sealed, and none of a
//! destroyed key (rule U1).

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::sqlite::SqliteEventStore;
use crate::{EventData, EventStore, ExpectedVersion, Metadata};

fn holds(path: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read(path).map(|bytes| bytes.windows(needle.len()).any(|w| w == needle)).unwrap_or(false)
}

#[tokio::test]
async fn the_embedded_files_keep_neither_a_sealed_subject_nor_a_destroyed_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Arc<dyn KeyStore> = Arc::new(SqliteKeys::open(dir.path().join("keys.db")).unwrap());
    let below = Arc::new(SqliteEventStore::open(dir.path().join("events.db"), crate::system_now()).unwrap());
    let sealer = Arc::new(Sealer::new(keys.clone()));
    let store = Sealed::new(below.clone(), sealer.clone());
    let key = KeyRef { tenant: Uuid::now_v7(), subject: Uuid::now_v7() };
    let subject = "quarterly-figures-7f3a";
    let mut event = EventData::json(
        Uuid::now_v7(),
        "MailSent",
        1,
        &serde_json::json!({ "subject": subject }),
        Metadata { tenant: Some(key.tenant), occurred_at: Utc::now(), ..Metadata::default() },
    )
    .unwrap();
    event.seal = Some(key);
    store.append("mailbox-1", ExpectedVersion::NoStream, vec![event]).await.unwrap();
    let secret = keys.key(key.subject).await.unwrap().unwrap();
    drop(store);
    drop(below);
    for file in ["events.db", "events.db-wal", "keys.db"] {
        assert!(!holds(&dir.path().join(file), subject.as_bytes()), "{file} holds the subject");
    }
    assert!(holds(&dir.path().join("keys.db"), &secret));

    sealer.destroy(key).await.unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    for file in names {
        assert!(!holds(&file, &secret), "{} still holds the destroyed key", file.display());
    }
}

#[test]
fn sealed_bytes_name_their_key() {
    let subject = Uuid::now_v7();
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(subject.as_bytes());
    assert_eq!(sealed_by(&bytes), Some(subject));
    assert_eq!(sealed_by(br#"{"subject":"x"}"#), None);
    assert_eq!(sealed_by(MAGIC), None, "too short to name one");
}
