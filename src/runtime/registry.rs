//! The job kinds a process knows, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::kind::JobKind;
use crate::catalog::KindCheck;

/// Job kinds by their `kind` name.
#[derive(Clone, Default)]
pub struct KindRegistry {
    kinds: BTreeMap<&'static str, Arc<dyn JobKind>>,
}

impl KindRegistry {
    /// An empty registry (tests add their own kinds).
    pub fn new() -> KindRegistry {
        KindRegistry::default()
    }

    /// Adds a kind; a later one with the same name replaces the earlier.
    pub fn register(&mut self, kind: Arc<dyn JobKind>) -> &mut Self {
        self.kinds.insert(kind.name(), kind);
        self
    }

    /// A kind by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn JobKind>> {
        self.kinds.get(name).cloned()
    }

    /// Known kind names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}

impl KindCheck for KindRegistry {
    fn check(&self, kind: &str, params: &toml::Table) -> Result<(), (String, String)> {
        match self.kinds.get(kind) {
            Some(found) => found.check_params(params),
            None => Err((
                "kind".to_string(),
                format!(
                    "unknown job kind `{kind}`; known kinds: {}",
                    self.names().join(", ")
                ),
            )),
        }
    }
}
