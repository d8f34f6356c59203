//! The fingerprints' index in the collection: one row a key (`postings`), its stored pairs packed
//! in one blob, 8 bytes each (the print's number and what learning stored with the key, both
//! u32, little-endian).
//!
//! Why one blob a key and not one row a pair (schema 3's `hashes`): recognition looks up a few
//! thousand keys a query and reads every pair of each. As rows, each pair cost SQLite a step and
//! about 15 bytes; as a blob, a key costs one seek and its pairs 8 bytes, which halves the
//! database a side and most of the time SQLite took a lookup (`scripts/bench 95-recognize`).
//! The price is paid when a print goes: its pairs are spread over thousands of blobs, so
//! removing one rewrites those blobs ([`sweep`]), once for each replaced or forgotten print.
//!
//! It owns the table's format, appending a learned print, sweeping the pairs of prints that are
//! gone, and moving schema 3's rows into blobs. It does not decide which prints are compared
//! (recognition filters by version). How it fails: a statement's error is returned, and the
//! caller's transaction rolls back; a blob whose length is not a whole number of pairs (a damaged
//! file) is read up to its last whole pair and reported by [`damaged`].

use rusqlite::{OptionalExtension as _, Transaction, params};
use std::collections::{BTreeMap, HashSet};

/// Bytes a stored pair takes in a blob.
const PAIR: usize = 8;

/// The largest print number a blob holds.
pub const MAX_PRINT_ID: i64 = u32::MAX as i64;

/// The pairs packed in `blob`: (print, stored).
pub fn decode(blob: &[u8]) -> impl Iterator<Item = (i64, u32)> + '_ {
    blob.chunks_exact(PAIR).map(|c| {
        let word = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
        (i64::from(word(0)), word(4))
    })
}

/// Appends the pair (print, stored) to `blob`.
fn push(blob: &mut Vec<u8>, print: i64, stored: u32) {
    // Callers keep print numbers within MAX_PRINT_ID (learn refuses others).
    blob.extend_from_slice(&(print as u32).to_le_bytes());
    blob.extend_from_slice(&stored.to_le_bytes());
}

/// The pairs of `blob` whose print is in `live`, packed again.
fn keep(blob: &[u8], live: &HashSet<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(blob.len());
    for (print, stored) in decode(blob).filter(|(p, _)| live.contains(p)) {
        push(&mut out, print, stored);
    }
    out
}

/// The numbers of the prints the collection holds.
fn live_prints(tx: &rusqlite::Connection) -> rusqlite::Result<HashSet<i64>> {
    let mut st = tx.prepare("SELECT id FROM prints")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Adds print `print`'s pairs (key, stored) to their keys' blobs; the pairs of prints that are
/// gone, met in those blobs, go on the way. A pair stored twice is kept once.
pub fn append(tx: &Transaction, print: i64, pairs: &[(u32, u32)]) -> rusqlite::Result<()> {
    let mut by_key: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(key, stored) in pairs {
        by_key.entry(key).or_default().push(stored);
    }
    let live = live_prints(tx)?;
    let mut get = tx.prepare_cached("SELECT pairs FROM postings WHERE key = ?1")?;
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO postings (key, pairs) VALUES (?1, ?2)")?;
    for (key, mut stored) in by_key {
        let old: Option<Vec<u8>> = get.query_row([key], |r| r.get(0)).optional()?;
        let mut blob = old.map(|b| keep(&b, &live)).unwrap_or_default();
        stored.sort_unstable();
        stored.dedup();
        for t in stored {
            push(&mut blob, print, t);
        }
        put.execute(params![key, blob])?;
    }
    Ok(())
}

/// Removes the pairs of prints that are gone (replaced, forgotten) from every blob, and the blobs
/// left empty; returns how many blobs changed. Reads the whole index: call once a removal.
pub fn sweep(tx: &Transaction) -> rusqlite::Result<usize> {
    let live = live_prints(tx)?;
    let mut changed: Vec<(u32, Vec<u8>)> = Vec::new();
    {
        let mut st = tx.prepare("SELECT key, pairs FROM postings")?;
        let mut rows = st.query([])?;
        while let Some(row) = rows.next()? {
            let blob = row.get_ref(1)?.as_blob()?;
            if decode(blob).any(|(p, _)| !live.contains(&p)) {
                changed.push((row.get(0)?, keep(blob, &live)));
            }
        }
    }
    let mut put = tx.prepare("UPDATE postings SET pairs = ?2 WHERE key = ?1")?;
    let mut drop = tx.prepare("DELETE FROM postings WHERE key = ?1")?;
    for (key, blob) in &changed {
        match blob.is_empty() {
            true => drop.execute([key])?,
            false => put.execute(params![key, blob])?,
        };
    }
    Ok(changed.len())
}

/// Moves schema 3's rows (`hashes`: one a pair) into blobs, and drops them: the migration to
/// schema 4, in its transaction.
pub fn from_rows(tx: &Transaction) -> rusqlite::Result<()> {
    {
        let mut st = tx.prepare("SELECT key, print_id, t FROM hashes ORDER BY key")?;
        let mut put = tx.prepare("INSERT INTO postings (key, pairs) VALUES (?1, ?2)")?;
        let mut rows = st.query([])?;
        let (mut at, mut blob): (Option<u32>, Vec<u8>) = (None, Vec::new());
        while let Some(row) = rows.next()? {
            let key: u32 = row.get(0)?;
            if at.is_some_and(|k| k != key) {
                put.execute(params![at, blob])?;
                blob.clear();
            }
            at = Some(key);
            push(&mut blob, row.get(1)?, row.get(2)?);
        }
        if at.is_some() {
            put.execute(params![at, blob])?;
        }
    }
    tx.execute_batch("DROP TABLE hashes")
}

/// How many blobs are not a whole number of pairs (a damaged file): `check` reports them.
pub fn damaged(tx: &rusqlite::Connection) -> rusqlite::Result<i64> {
    tx.query_row("SELECT count(*) FROM postings WHERE length(pairs) % ?1 != 0", [PAIR as i64], |r| r.get(0))
}

/// How many blobs hold pairs of prints that are gone: a batch's sweep that never ran (a relearn
/// or `learn FILE…` interrupted), which `check` reports and [`sweep`] removes. Reads the whole
/// index, as the sweep does.
pub fn stale(conn: &rusqlite::Connection) -> rusqlite::Result<usize> {
    let live = live_prints(conn)?;
    let mut st = conn.prepare("SELECT pairs FROM postings")?;
    let mut rows = st.query([])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        n += usize::from(decode(row.get_ref(0)?.as_blob()?).any(|(p, _)| !live.contains(&p)));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_pack_to_eight_bytes_and_a_torn_tail_is_not_read() {
        let mut blob = Vec::new();
        push(&mut blob, 7, 0xDEAD_BEEF);
        push(&mut blob, MAX_PRINT_ID, 1);
        assert_eq!(blob.len(), 16);
        blob.push(0xFF);
        assert_eq!(decode(&blob).collect::<Vec<_>>(), [(7, 0xDEAD_BEEF), (MAX_PRINT_ID, 1)]);
        let live = HashSet::from([MAX_PRINT_ID]);
        assert_eq!(decode(&keep(&blob, &live)).collect::<Vec<_>>(), [(MAX_PRINT_ID, 1)]);
    }
}
