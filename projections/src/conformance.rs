//! The conformance suite of the read-model store port; every store runs it
//! through [`read_model_conformance_suite!`].

use serde_json::json;

use crate::{Change, ReadModelStore};

/// Generates one `#[tokio::test]` per case, given an async expression that
/// makes a fresh, empty store with whatever must live as long as it, or
/// `None` (the test is skipped) when its server is not available here.
#[macro_export]
macro_rules! read_model_conformance_suite {
    ($make:expr) => {
        $crate::read_model_conformance_suite!(@cases $make;
            puts_gets_and_deletes_rows,
            scans_by_prefix_in_key_order_with_a_cursor,
            commits_rows_and_checkpoint_together,
            keeps_any_json_value_and_refuses_nul_in_keys,
            grants_a_claim_and_again_once_released
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _keep_alive)) = $make.await else { return };
                $crate::conformance::$case(&store).await;
            }
        )*
    };
}

fn put(table: &'static str, key: &str, n: i64) -> Change {
    Change::Put { table, key: key.to_owned(), value: json!({ "n": n }) }
}

pub async fn puts_gets_and_deletes_rows(store: &dyn ReadModelStore) {
    assert_eq!(store.get("t", "a").await.unwrap(), None);
    store.commit("p", vec![put("t", "a", 1), put("u", "a", 2)], 0, 1).await.unwrap();
    assert_eq!(store.get("t", "a").await.unwrap(), Some(json!({ "n": 1 })));
    assert_eq!(store.get("u", "a").await.unwrap(), Some(json!({ "n": 2 })));
    store.commit("p", vec![put("t", "a", 3)], 1, 2).await.unwrap();
    assert_eq!(store.get("t", "a").await.unwrap(), Some(json!({ "n": 3 })));
    store.commit("p", vec![Change::Delete { table: "t", key: "a".into() }], 2, 3).await.unwrap();
    assert_eq!(store.get("t", "a").await.unwrap(), None);
    assert_eq!(store.get("u", "a").await.unwrap(), Some(json!({ "n": 2 })));
}

pub async fn scans_by_prefix_in_key_order_with_a_cursor(store: &dyn ReadModelStore) {
    let keys = ["t1/b", "t1/a", "t1/c", "t2/a", "t1/", "t10/a"];
    store.commit("p", keys.iter().enumerate().map(|(i, k)| put("t", k, i as i64)).collect(), 0, 1).await.unwrap();
    let all = store.scan("t", "t1/", None, 100).await.unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["t1/", "t1/a", "t1/b", "t1/c"]);
    let page = store.scan("t", "t1/", Some("t1/a"), 1).await.unwrap();
    assert_eq!(page, vec![("t1/b".to_owned(), json!({ "n": 0 }))]);
    assert!(store.scan("t", "t1/", Some("t1/c"), 10).await.unwrap().is_empty());
    assert!(store.scan("t", "t3/", None, 10).await.unwrap().is_empty());
    // Backwards: the rows before a cursor, nearest first.
    let back = store.scan_back("t", "t1/", None, 100).await.unwrap();
    assert_eq!(back.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["t1/c", "t1/b", "t1/a", "t1/"]);
    let page = store.scan_back("t", "t1/", Some("t1/c"), 1).await.unwrap();
    assert_eq!(page, vec![("t1/b".to_owned(), json!({ "n": 0 }))]);
    assert!(store.scan_back("t", "t1/", Some("t1/"), 10).await.unwrap().is_empty());
    assert!(store.scan_back("t", "t3/", None, 10).await.unwrap().is_empty());
    assert!(store.scan_back("none", "", None, 10).await.unwrap().is_empty());
    assert!(store.scan("none", "", None, 10).await.unwrap().is_empty());
    assert_eq!(store.count("t", "t1/").await.unwrap(), 4);
    assert_eq!(store.count("t", "").await.unwrap(), 6);
    assert_eq!(store.count("none", "").await.unwrap(), 0);
}

pub async fn commits_rows_and_checkpoint_together(store: &dyn ReadModelStore) {
    assert_eq!(store.checkpoint("users").await.unwrap(), 0);
    store.commit("users", vec![put("t", "a", 1)], 0, 41).await.unwrap();
    assert_eq!(store.checkpoint("users").await.unwrap(), 41);
    assert_eq!(store.checkpoint("audit").await.unwrap(), 0);
    store.commit("users", vec![], 41, 42).await.unwrap();
    assert_eq!(store.checkpoint("users").await.unwrap(), 42);
    // A batch that began from an older checkpoint applies nothing.
    let stale = store.commit("users", vec![put("t", "b", 2)], 41, 50).await;
    assert!(matches!(stale, Err(crate::ProjectionError::CheckpointMoved { expected: 41, actual: 42, .. })));
    assert_eq!(store.get("t", "b").await.unwrap(), None);
    assert_eq!(store.checkpoint("users").await.unwrap(), 42);
}

/// A claim is granted and, once dropped, granted again. (Whether a second
/// holder is refused depends on the store: a store shared by processes
/// refuses it, see its own tests; memory has one process only.) A store
/// whose claim is a server's lock on a connection frees it once the server
/// has seen the connection close, which may take a moment after the drop.
pub async fn grants_a_claim_and_again_once_released(store: &dyn ReadModelStore) {
    let claim = store.try_claim("users.v1").await.unwrap();
    assert!(claim.is_some());
    assert!(store.try_claim("audit.v1").await.unwrap().is_some());
    drop(claim);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.try_claim("users.v1").await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the claim was not granted again once released");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Values are any JSON, NUL in strings included (PostgreSQL's JSONB would
/// refuse it); a key, prefix or cursor with NUL is refused by every store
/// alike, and a batch holding one applies nothing.
pub async fn keeps_any_json_value_and_refuses_nul_in_keys(store: &dyn ReadModelStore) {
    let value = json!({ "subject": "a\u{0}b", "\u{0}": ["\u{0}", "\\u0000"] });
    store.commit("p", vec![Change::Put { table: "t", key: "a".into(), value: value.clone() }], 0, 1).await.unwrap();
    assert_eq!(store.get("t", "a").await.unwrap(), Some(value.clone()));
    assert_eq!(store.scan("t", "", None, 10).await.unwrap(), vec![("a".to_owned(), value)]);

    let invalid = |r: Result<(), crate::ProjectionError>| matches!(r, Err(crate::ProjectionError::InvalidInput(_)));
    let nul_key = vec![put("t", "b", 1), put("t", "c\0", 2)];
    assert!(invalid(store.commit("p", nul_key, 1, 2).await));
    assert_eq!(store.checkpoint("p").await.unwrap(), 1);
    assert_eq!(store.get("t", "b").await.unwrap(), None);
    assert!(invalid(store.get("t", "a\0").await.map(drop)));
    assert!(invalid(store.scan("t", "a\0", None, 10).await.map(drop)));
    assert!(invalid(store.scan("t", "", Some("a\0"), 10).await.map(drop)));
    assert!(invalid(store.count("t", "\0").await.map(drop)));
}
