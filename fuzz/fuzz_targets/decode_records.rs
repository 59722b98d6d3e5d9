//! Arbitrary bytes into every decoder of stored data: events (`decode_event`, any format
//! version), history files (`HistoryFile::read`, JSON and binary), and the store's run,
//! activity-task and Nexus-task records (`history::decode`, as the store reads them).
//!
//! The store decodes run records with a private function (it upgrades formats 1 and 2), so an
//! input starting with `R` also has its rest stored as a run record in a scratch database file
//! and read back with `ReadOnlyStore::run`; only those, since redb makes this slow.
//!
//! Property: no decoder panics, and whatever decodes re-encodes to something that decodes to
//! the same value; the store reads a current-format run record as `history::decode` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::LazyLock;
use weft_core::history::{self, HistoryFile, decode_event, encode};
use weft_core::ids::RunId;
use weft_engine::{ActivityTask, NexusTask, RunRecord, StoreError};
use weft_store_redb::ReadOnlyStore;

fuzz_target!(|data: &[u8]| {
    // An event of the `history` table.
    if let Ok(event) = decode_event(data) {
        let again = decode_event(&encode(&event)).expect("a re-encoded event decodes");
        assert_same(&event, &again, encode);
    }
    // Records of the `runs`, `activity_tasks` and `nexus_tasks` tables (current format).
    round_trip::<RunRecord>(data);
    round_trip::<ActivityTask>(data);
    round_trip::<NexusTask>(data);
    // A run record as the store reads it from its file.
    if let Some(record) = data.strip_prefix(b"R") {
        stored_run_record(record);
    }
    // A history file in either form, and the bytes as the body of a binary one.
    history_file(data);
    let mut binary = b"WEFTHIST".to_vec();
    binary.extend(HistoryFile::VERSION.to_le_bytes());
    binary.extend(data);
    history_file(&binary);
});

/// `a` and `b` are the same value: equal, or, for a value holding a NaN float (which equals
/// nothing, itself included), equal in their encoding.
#[allow(clippy::eq_op)]
fn assert_same<T: PartialEq + Debug>(a: &T, b: &T, encode: impl Fn(&T) -> Vec<u8>) {
    if a == a {
        assert_eq!(a, b);
    } else {
        assert_eq!(encode(a), encode(b));
    }
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    if let Ok(value) = history::decode::<T>(bytes) {
        let again: T = history::decode(&encode(&value)).expect("a re-encoded record decodes");
        assert_same(&value, &again, encode);
    }
}

fn history_file(bytes: &[u8]) {
    let Ok(file) = HistoryFile::read(bytes) else {
        return;
    };
    let again = HistoryFile::read(&file.to_binary()).expect("the binary form reads back");
    assert_same(&file, &again, HistoryFile::to_binary);
    // Only a file read from JSON is sure to have a JSON form: a binary one may hold a
    // non-finite float (a retry policy's backoff coefficient), which JSON cannot express.
    if !bytes.starts_with(b"WEFTHIST") {
        let again = HistoryFile::read(file.to_json().as_bytes()).expect("the JSON form reads back");
        assert_eq!(file, again);
    }
}

/// A database file with every weft table and nothing in them, as `weft_store_redb::open`
/// creates it.
static EMPTY_DATABASE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let path = scratch_path();
    weft_store_redb::open(&path, 0)
        .expect("create a database")
        .close();
    let bytes = std::fs::read(&path).expect("read the new database");
    let _ = std::fs::remove_file(&path);
    bytes
});

/// In the temporary directory (`TMPDIR`; a tmpfs is much faster: redb syncs every commit).
fn scratch_path() -> PathBuf {
    std::env::temp_dir().join(format!("weft-fuzz-{}.redb", std::process::id()))
}

/// Stores `bytes` as run 1's record in a fresh database file and reads it back with
/// `ReadOnlyStore::run`, which decodes run records of every format version.
fn stored_run_record(bytes: &[u8]) {
    // The store's `runs` table: run id -> record.
    const RUNS: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("runs");
    let path = scratch_path();
    std::fs::write(&path, &*EMPTY_DATABASE).expect("write the scratch database");
    {
        let db = redb::Database::open(&path).expect("open the scratch database");
        let tx = db.begin_write().expect("write transaction");
        tx.open_table(RUNS)
            .expect("runs table")
            .insert(1, bytes)
            .expect("insert the record");
        tx.commit().expect("commit");
    }
    let read = ReadOnlyStore::open(&path).and_then(|store| store.run(RunId(1)));
    let _ = std::fs::remove_file(&path);
    match (read, bytes.first()) {
        // Formats 1 and 2, upgraded: written again, the record has the current format.
        (Ok(rec), Some(1 | 2)) => {
            let again: RunRecord =
                history::decode(&encode(&rec)).expect("a re-encoded run record decodes");
            assert_same(&rec, &again, encode);
        }
        (Err(StoreError::Encoding { .. }), Some(1 | 2)) => {}
        // Any other format: what the public decoder reads.
        (Ok(rec), _) => {
            let public = history::decode::<RunRecord>(bytes).expect("the public decoder reads it");
            assert_same(&rec, &public, encode);
        }
        (Err(StoreError::Encoding { source, .. }), _) => {
            assert_eq!(Err(source), history::decode::<RunRecord>(bytes));
        }
        (Err(e), _) => panic!("an undecodable run record must be an encoding error, not: {e}"),
    }
}
