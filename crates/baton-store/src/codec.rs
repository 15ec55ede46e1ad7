//! Encoding of model structs into rows, and the cache of definition snapshots; shared by
//! both backends.

use crate::{Result, StoreError};
use baton_model::WorkflowDef;
use parking_lot::Mutex;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Serialises a value for a `json` column, in the model's compact stored form (defaults that
/// Conductor spells out over the API are left out; see `baton_model::wire`).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    baton_model::wire::compact(|| serde_json::to_string(value))
        .map_err(|e| StoreError::Database(format!("encoding: {e}")))
}

/// Decodes a `json` column; `what` names the row for the error.
///
/// Whatever was stored must read back: a stored document nests deeper than the value that
/// entered (an input sits inside its workflow, a failed workflow inside its failure
/// workflow's input), so serde_json's recursion limit of 128 is lifted here and the stack
/// grows on the heap as deep documents need it instead.
pub(crate) fn from_json<T: DeserializeOwned>(json: &str, what: &str) -> Result<T> {
    // The common case; only documents deeper than serde_json's limit take the slow path.
    match serde_json::from_str(json) {
        Ok(v) => Ok(v),
        Err(e) if !e.to_string().contains("recursion limit exceeded") => {
            Err(StoreError::Corrupt(format!("{what}: {e}")))
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(json);
            de.disable_recursion_limit();
            let stacked = serde_stacker::Deserializer::new(&mut de);
            let value = T::deserialize(stacked)
                .and_then(|v| de.end().map(|()| v))
                .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
            Ok(value)
        }
    }
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Entries kept per map before the map is emptied and refilled (defs are few in practice; this
/// only bounds memory when many ad-hoc inline definitions pass through).
const DEF_CACHE_CAPACITY: usize = 4096;

/// Definitions that executions run, by content hash, plus the hash of every `Arc` handed in or
/// out recently so that committing a workflow with the `Arc` it was loaded with costs neither a
/// serialisation nor a hash.
///
/// Identity by pointer is sound because the cache holds a clone of each `Arc` it remembers: the
/// allocation cannot be freed and reused, and `Arc::make_mut` on a shared `Arc` copies.
#[derive(Default)]
pub(crate) struct DefCache {
    inner: Mutex<DefCacheInner>,
}

#[derive(Default)]
struct DefCacheInner {
    by_hash: HashMap<String, Arc<WorkflowDef>>,
    by_ptr: HashMap<usize, (Arc<WorkflowDef>, String)>,
}

/// A definition ready to be referenced from a workflow row.
pub(crate) struct DefKey {
    pub hash: String,
    /// The JSON, when it had to be computed anyway (a definition not seen before).
    pub json: Option<String>,
}

impl DefCache {
    pub fn get(&self, hash: &str) -> Option<Arc<WorkflowDef>> {
        self.inner.lock().by_hash.get(hash).cloned()
    }

    /// Remembers a definition decoded from the snapshot `hash`; returns the cached `Arc`
    /// (an earlier one if another thread won the race).
    pub fn insert(&self, hash: &str, def: Arc<WorkflowDef>) -> Arc<WorkflowDef> {
        let mut inner = self.inner.lock();
        if let Some(existing) = inner.by_hash.get(hash) {
            return existing.clone();
        }
        inner.remember(hash.to_string(), def.clone());
        def
    }

    /// The content hash of `def`, from the cache when this `Arc` was seen before.
    pub fn key_of(&self, def: &Arc<WorkflowDef>) -> Result<DefKey> {
        let ptr = Arc::as_ptr(def) as usize;
        if let Some((_, hash)) = self.inner.lock().by_ptr.get(&ptr) {
            return Ok(DefKey {
                hash: hash.clone(),
                json: None,
            });
        }
        let json = to_json(def.as_ref())?;
        let hash = sha256_hex(json.as_bytes());
        self.inner.lock().remember(hash.clone(), def.clone());
        Ok(DefKey {
            hash,
            json: Some(json),
        })
    }
}

impl DefCacheInner {
    fn remember(&mut self, hash: String, def: Arc<WorkflowDef>) {
        if self.by_hash.len() >= DEF_CACHE_CAPACITY {
            self.by_hash.clear();
        }
        if self.by_ptr.len() >= DEF_CACHE_CAPACITY {
            self.by_ptr.clear();
        }
        self.by_hash
            .entry(hash.clone())
            .or_insert_with(|| def.clone());
        self.by_ptr.insert(Arc::as_ptr(&def) as usize, (def, hash));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_hash_is_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn same_arc_hashes_once() {
        let cache = DefCache::default();
        let def: WorkflowDef = serde_json::from_str(r#"{"name":"w"}"#).unwrap();
        let def = Arc::new(def);
        let first = cache.key_of(&def).unwrap();
        assert!(first.json.is_some());
        let second = cache.key_of(&def).unwrap();
        assert!(second.json.is_none());
        assert_eq!(first.hash, second.hash);
        // Equal content in another allocation hashes equal.
        let other = Arc::new((*def).clone());
        assert_eq!(cache.key_of(&other).unwrap().hash, first.hash);
        assert!(Arc::ptr_eq(&cache.get(&first.hash).unwrap(), &def));
    }
}
