//! The workflow components of one namespace: every version registered, by digest, and the
//! newest of each type. A run is pinned to the version that ran it first (the newest of its type
//! when it started) and keeps running that version while the host has it; a new run gets the
//! newest. Registering a version replaces the newest and keeps the older ones for the runs
//! pinned to them.

use crate::sandbox::CompiledWorkflow;
use std::collections::HashMap;

/// Compiled components by digest, and the digest of the newest of each workflow type.
#[derive(Clone, Default)]
pub(crate) struct Components {
    newest: HashMap<String, String>,
    by_digest: HashMap<String, CompiledWorkflow>,
}

impl Components {
    /// Adds `compiled` as the newest version of `workflow_type`.
    pub(crate) fn insert(&mut self, workflow_type: &str, compiled: CompiledWorkflow) {
        self.newest
            .insert(workflow_type.to_string(), compiled.digest().to_string());
        self.by_digest
            .insert(compiled.digest().to_string(), compiled);
    }

    /// The newest version of `workflow_type`.
    pub(crate) fn newest(&self, workflow_type: &str) -> Option<&CompiledWorkflow> {
        self.by_digest.get(self.newest.get(workflow_type)?)
    }

    /// The version with digest `digest`, if this host has it.
    pub(crate) fn version(&self, digest: &str) -> Option<&CompiledWorkflow> {
        self.by_digest.get(digest)
    }

    /// The registered workflow types, sorted.
    pub(crate) fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.newest.keys().cloned().collect();
        types.sort();
        types
    }
}
