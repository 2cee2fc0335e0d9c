//! Archives: exported from a log, checked offline, refused when a byte, a
//! month or the signature is wrong.

use std::io::{Read, Write};
use std::path::Path;

use audit::archive::{ArchiveError, Company, Export, Renderer, Renderings, export, for_each_event, verify_archive};
use audit::{CheckpointKey, Progress};
use store::sealing::KeyRef;
use store::sqlite::SqliteEventStore;
use store::{EventData, EventStore, ExpectedVersion, Metadata, system_now};
use uuid::Uuid;

mod common;
use common::*;

#[tokio::test]
async fn an_export_holds_every_month_of_the_range_and_verifies_offline() {
    let s = setup().await;
    let out = s.dir.path().join("acme.zip");
    let mut seen: Vec<Progress> = Vec::new();
    let manifest =
        export(&s.store, asked(&s.company, "2026-01", "2026-04", &[]), &s.key, &out, |p| seen.push(p)).await.unwrap();
    assert!(seen.last().is_some_and(|p| p.done == p.total));
    // The January ones, March's two (one a checkpoint), April's two (one a
    // checkpoint): not the December one before, nor May's after, nor the
    // other company's.
    assert_eq!(manifest.events, 6);
    assert_eq!(
        manifest.files.iter().map(|f| (f.name.as_str(), f.events)).collect::<Vec<_>>(),
        vec![
            ("events/2026-01.ndjson", 2),
            ("events/2026-02.ndjson", 0),
            ("events/2026-03.ndjson", 2),
            ("events/2026-04.ndjson", 2)
        ]
    );
    assert_eq!(manifest.counts_by_type.get("Happened"), Some(&4));
    // The schema of each type it holds and has one of.
    assert_eq!(
        manifest.schemas.iter().map(|s| (s.name.as_str(), s.events)).collect::<Vec<_>>(),
        vec![("schemas/Happened.json", 4)]
    );
    assert_eq!(manifest.checkpoints.len(), 2);
    assert_ne!(manifest.chain_before, store::chain::ChainHash::genesis(s.company.id).to_string());

    let report = verify_archive(&out, Some(s.key.public()), |_| {}).unwrap();
    assert_eq!(report.manifest, manifest);
    let mut events = Vec::new();
    for_each_event(&out, &report.manifest, |e| {
        events.push(e.position);
        Ok(())
    })
    .unwrap();
    assert_eq!(events.len(), 6);
    assert!(events.windows(2).all(|w| w[0] < w[1]));
    // April alone: its checkpoint covers the event it links on from.
    let april = s.dir.path().join("april.zip");
    let manifest =
        export(&s.store, asked(&s.company, "2026-04", "2026-04", &[]), &s.key, &april, |_| {}).await.unwrap();
    assert_eq!((manifest.events, manifest.checkpoints.len()), (2, 1));
    assert_eq!(manifest.checkpoints[0].checkpoint.position, manifest.position_before);
    verify_archive(&april, Some(s.key.public()), |_| {}).unwrap();
    // February alone holds nothing.
    assert!(export(&s.store, asked(&s.company, "2026-02", "2026-02", &[]), &s.key, &april, |_| {}).await.is_err());
    // Without a key given, the manifest's own is used.
    assert_eq!(verify_archive(&out, None, |_| {}).unwrap().key, s.key.public().to_string());
}

#[tokio::test]
async fn a_changed_byte_a_missing_month_or_a_wrong_signature_is_refused() {
    let s = setup().await;
    let out = s.dir.path().join("acme.zip");
    export(&s.store, asked(&s.company, "2026-01", "2026-04", &[]), &s.key, &out, |_| {}).await.unwrap();
    let check = |path: &Path| verify_archive(path, Some(s.key.public()), |_| {});

    let changed = s.dir.path().join("changed.zip");
    rewrite(&out, &changed, |name, mut bytes| {
        if name == "events/2026-03.ndjson" {
            let at = bytes.windows(7).position(|w| w == b"thing-b").unwrap();
            bytes[at + 6] = b'x';
        }
        Some(bytes)
    });
    let refused = check(&changed).unwrap_err();
    assert!(matches!(refused, ArchiveError::Tampered(_)), "{refused}");

    let missing = s.dir.path().join("missing.zip");
    rewrite(&out, &missing, |name, bytes| (name != "events/2026-02.ndjson").then_some(bytes));
    let refused = check(&missing).unwrap_err().to_string();
    assert!(refused.contains("events/2026-02.ndjson is missing"), "{refused}");

    let resigned = s.dir.path().join("resigned.zip");
    let other = CheckpointKey::from_seed([6; 32]);
    rewrite(&out, &resigned, |name, bytes| {
        Some(if name == "manifest.sig" { other.sign_bytes(b"{}").into_bytes() } else { bytes })
    });
    let refused = check(&resigned).unwrap_err().to_string();
    assert!(refused.contains("manifest.sig"), "{refused}");

    let reschemed = s.dir.path().join("reschemed.zip");
    rewrite(&out, &reschemed, |name, bytes| Some(if name == "schemas/Happened.json" { b"{}".to_vec() } else { bytes }));
    let refused = check(&reschemed).unwrap_err().to_string();
    assert!(refused.contains("schemas/Happened.json is not the file"), "{refused}");
    // Signed whole by another key: refused against the key the auditor holds.
    let foreign = s.dir.path().join("foreign.zip");
    export(&s.store, asked(&s.company, "2026-01", "2026-04", &[]), &other, &foreign, |_| {}).await.unwrap();
    assert!(check(&foreign).is_err());
}

#[tokio::test]
async fn an_empty_or_reversed_range_makes_no_archive() {
    let s = setup().await;
    let out = s.dir.path().join("none.zip");
    let empty = export(&s.store, asked(&s.company, "2024-01", "2024-12", &[]), &s.key, &out, |_| {}).await.unwrap_err();
    assert!(matches!(empty, ArchiveError::Empty(_)), "{empty}");
    let reversed =
        export(&s.store, asked(&s.company, "2026-04", "2026-01", &[]), &s.key, &out, |_| {}).await.unwrap_err();
    assert!(reversed.to_string().contains("reversed"), "{reversed}");
    assert!(!out.exists());
    assert!(
        std::fs::read_dir(s.dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("partial"))
    );
}

// rule U1: an archive holds sealed payloads as stored, with the keys live at
// the export that open them; a key destroyed before the export is not in
// it, and a changed keys file is refused.
#[tokio::test]
async fn an_archive_carries_the_keys_of_its_sealed_payloads_and_no_destroyed_one() {
    use store::sealing::{KeyStore, Sealed, Sealer, SqliteKeys};
    let s = setup().await;
    let keys: std::sync::Arc<dyn KeyStore> =
        std::sync::Arc::new(SqliteKeys::open(s.dir.path().join("keys.db")).unwrap());
    let sealer = std::sync::Arc::new(Sealer::new(keys.clone()));
    let below: std::sync::Arc<dyn EventStore> =
        std::sync::Arc::new(SqliteEventStore::open(s.dir.path().join("sealed.db"), system_now()).unwrap());
    let sealed = Sealed::new(below.clone(), sealer.clone());
    let (kim, lee) = (
        KeyRef { tenant: s.company.id, subject: Uuid::now_v7() },
        KeyRef { tenant: s.company.id, subject: Uuid::now_v7() },
    );
    for key in [kim, lee, KeyRef::company(s.company.id)] {
        let mut data = EventData::json(
            Uuid::now_v7(),
            "MailSent",
            1,
            &serde_json::json!({ "subject": "분기 보고" }),
            Metadata {
                tenant: Some(s.company.id),
                occurred_at: at("2026-03-02T09:00:00+09:00"),
                ..Metadata::default()
            },
        )
        .unwrap();
        data.seal = Some(key);
        sealed.append(&format!("mailbox-{}", key.subject), ExpectedVersion::NoStream, vec![data]).await.unwrap();
    }
    sealer.destroy(kim).await.unwrap();
    let live = keys.live_keys(s.company.id).await.unwrap();
    let out = s.dir.path().join("sealed.zip");
    let manifest =
        export(below.as_ref(), asked(&s.company, "2026-03", "2026-03", &live), &s.key, &out, |_| {}).await.unwrap();
    assert_eq!(manifest.keys.as_ref().map(|k| k.events), Some(2), "Lee's and the company's; Kim's was destroyed");
    let report = verify_archive(&out, Some(s.key.public()), |_| {}).unwrap();
    let archived = audit::archive::keys(&out, &report.manifest).unwrap();
    let mut subjects: Vec<_> = archived.iter().map(|(k, _)| k.subject).collect();
    subjects.sort();
    let mut expected = vec![lee.subject, s.company.id];
    expected.sort();
    assert_eq!(subjects, expected);

    let changed = s.dir.path().join("changed-keys.zip");
    rewrite(&out, &changed, |name, bytes| Some(if name == "keys.json" { b"[]".to_vec() } else { bytes }));
    let refused = verify_archive(&changed, Some(s.key.public()), |_| {}).unwrap_err().to_string();
    assert!(refused.contains("keys.json"), "{refused}");

    // What is withheld stays so: an export whose keys would open a mailbox
    // payload makes no archive; without those keys it is made.
    let withheld = s.dir.path().join("withheld.zip");
    let opening = Export { withheld: &["mailbox"], ..asked(&s.company, "2026-03", "2026-03", &live) };
    let refused = export(below.as_ref(), opening, &s.key, &withheld, |_| {}).await.unwrap_err();
    assert!(matches!(refused, ArchiveError::Invalid(_)) && refused.to_string().contains("mailbox"), "{refused}");
    assert!(!withheld.exists());
    // March's mailbox payloads are before April's range, and the keys
    // would open them in March's archive all the same.
    let later = Export { withheld: &["mailbox"], ..asked(&s.company, "2026-04", "2026-04", &live) };
    let refused = export(below.as_ref(), later, &s.key, &withheld, |_| {}).await.unwrap_err();
    assert!(refused.to_string().contains("mailbox"), "{refused}");
    let none = Export { withheld: &["mailbox"], ..asked(&s.company, "2026-03", "2026-03", &[]) };
    let manifest = export(below.as_ref(), none, &s.key, &withheld, |_| {}).await.unwrap();
    assert_eq!(manifest.withheld, vec!["mailbox".to_owned()]);
}

// An archive of the format before sealing (no keys file) still verifies and
// reads back, with no keys.
#[tokio::test]
async fn an_archive_from_before_sealing_still_verifies() {
    let s = setup().await;
    let out = s.dir.path().join("acme.zip");
    export(&s.store, asked(&s.company, "2026-01", "2026-04", &[]), &s.key, &out, |_| {}).await.unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&{
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut bytes = Vec::new();
        zip.by_name("manifest.json").unwrap().read_to_end(&mut bytes).unwrap();
        bytes
    })
    .unwrap();
    // The archive with `manifest` signed in place of its own and no keys file.
    let resigned = |manifest: &serde_json::Value, name: &str| {
        let bytes = serde_json::to_vec_pretty(manifest).unwrap();
        let path = s.dir.path().join(name);
        rewrite(&out, &path, |file, content| match file {
            "keys.json" => None,
            "manifest.json" => Some(bytes.clone()),
            "manifest.sig" => Some(s.key.sign_bytes(&bytes).into_bytes()),
            _ => Some(content),
        });
        path
    };
    manifest["format"] = "groupware-archive-v1".into();
    manifest.as_object_mut().unwrap().remove("keys");
    let old = resigned(&manifest, "v1.zip");
    let report = verify_archive(&old, Some(s.key.public()), |_| {}).unwrap();
    assert_eq!(report.manifest.keys, None);
    assert_eq!(audit::archive::keys(&old, &report.manifest).unwrap(), vec![]);
    // A manifest of today's format must name its keys file.
    manifest["format"] = "groupware-archive-v2".into();
    let stripped = resigned(&manifest, "stripped.zip");
    assert!(verify_archive(&stripped, Some(s.key.public()), |_| {}).is_err());
}

/// Renders each event's stream and number as a text file, and a count of
/// them at the end.
struct Numbered(u32);

#[async_trait::async_trait]
impl Renderer for Numbered {
    async fn event(&mut self, event: &store::RecordedEvent, files: &mut Renderings) -> Result<(), ArchiveError> {
        self.0 += 1;
        files.add(&format!("{}/{}.txt", event.stream, event.position), event.event_type.as_bytes())
    }

    async fn finish(&mut self, files: &mut Renderings) -> Result<(), ArchiveError> {
        files.add("count.txt", self.0.to_string().as_bytes())
    }
}

#[tokio::test]
async fn renderings_are_listed_signed_and_checked_like_the_events() {
    let s = setup().await;
    let out = s.dir.path().join("rendered.zip");
    let mut renderer = Numbered(0);
    let asked = Export { renderer: Some(&mut renderer), ..asked(&s.company, "2026-01", "2026-04", &[]) };
    let manifest = export(&s.store, asked, &s.key, &out, |_| {}).await.unwrap();
    let listed = manifest.renderings.clone().unwrap();
    assert_eq!(listed.events, manifest.events + 1);
    verify_archive(&out, Some(s.key.public()), |_| {}).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut count = String::new();
    zip.by_name("renderings/count.txt").unwrap().read_to_string(&mut count).unwrap();
    assert_eq!(count, manifest.events.to_string());
    let mut list = String::new();
    zip.by_name("renderings.sha256").unwrap().read_to_string(&mut list).unwrap();
    assert!(list.ends_with("  renderings/count.txt\n"), "{list}");

    let check = |path: &Path| verify_archive(path, Some(s.key.public()), |_| {}).unwrap_err().to_string();
    let changed = s.dir.path().join("changed.zip");
    rewrite(&out, &changed, |name, bytes| Some(if name == "renderings/count.txt" { b"99".to_vec() } else { bytes }));
    assert!(check(&changed).contains("renderings/count.txt is not the file"), "{}", check(&changed));
    let removed = s.dir.path().join("removed.zip");
    rewrite(&out, &removed, |name, bytes| (name != "renderings/count.txt").then_some(bytes));
    assert!(check(&removed).contains("does not hold"), "{}", check(&removed));
    let added = s.dir.path().join("added.zip");
    std::fs::copy(&out, &added).unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&added).unwrap();
    let mut appending = zip::ZipWriter::new_append(file).unwrap();
    appending.start_file("renderings/slipped-in.txt", zip::write::SimpleFileOptions::default()).unwrap();
    appending.write_all(b"not exported").unwrap();
    appending.finish().unwrap();
    assert!(check(&added).contains("renderings/slipped-in.txt is in the archive but not in"), "{}", check(&added));
}

#[tokio::test]
async fn a_long_month_is_checked_in_batches_and_a_change_anywhere_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("events.db"), system_now()).unwrap();
    let company = Company { id: Uuid::now_v7(), domain: "long.co.kr".into(), time_zone: "UTC".into() };
    let key = CheckpointKey::from_seed([7; 32]);
    for chunk in 0..10 {
        let events = (0..1000)
            .map(|n| {
                let metadata = Metadata {
                    tenant: Some(company.id),
                    occurred_at: at("2026-03-02T09:00:00Z"),
                    ..Metadata::default()
                };
                EventData::json(Uuid::now_v7(), "Happened", 1, &serde_json::json!({ "n": chunk * 1000 + n }), metadata)
                    .unwrap()
            })
            .collect();
        store.append("thing-long", ExpectedVersion::Any, events).await.unwrap();
    }
    let out = dir.path().join("long.zip");
    let manifest = export(&store, asked(&company, "2026-03", "2026-03", &[]), &key, &out, |_| {}).await.unwrap();
    assert_eq!(manifest.events, 10_000);
    let mut seen = Vec::new();
    verify_archive(&out, Some(key.public()), |p| seen.push(p)).unwrap();
    assert_eq!(seen.last().map(|p| p.done), Some(10_000));
    // The first line of a batch, one inside it, the last line of all.
    for line in [4097, 5000, 10_000] {
        let changed = dir.path().join(format!("changed-{line}.zip"));
        rewrite(&out, &changed, |name, bytes| {
            if name != "events/2026-03.ndjson" {
                return Some(bytes);
            }
            let mut lines: Vec<String> = String::from_utf8(bytes).unwrap().lines().map(str::to_owned).collect();
            lines[line - 1] = lines[line - 1].replacen("\"version\":", "\"version\":1", 1);
            Some(lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes())
        });
        let refused = verify_archive(&changed, Some(key.public()), |_| {}).unwrap_err().to_string();
        // The changed line is named, before the file's digest is found
        // wrong at its end.
        assert!(refused.contains(&format!("events/2026-03.ndjson line {line} (position")), "{line}: {refused}");
    }
    // The first line that does not match is named, whatever follows it in
    // its batch.
    let twice = dir.path().join("changed-twice.zip");
    rewrite(&out, &twice, |name, bytes| {
        if name != "events/2026-03.ndjson" {
            return Some(bytes);
        }
        let mut lines: Vec<String> = String::from_utf8(bytes).unwrap().lines().map(str::to_owned).collect();
        lines[4096] = lines[4096].replacen("\"version\":", "\"version\":1", 1);
        lines[4200] = "not an event".into();
        Some(lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes())
    });
    let refused = verify_archive(&twice, Some(key.public()), |_| {}).unwrap_err().to_string();
    assert!(refused.contains("events/2026-03.ndjson line 4097 (position"), "{refused}");
}
