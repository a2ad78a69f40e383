//! The single-process coordinator: one instance, always the leader, runs every item.

use crate::catalog::JobDef;
use crate::runtime::{Assignment, CoordError, Coordinator};

/// One node working alone.
#[derive(Debug, Clone)]
pub struct Embedded {
    instance_id: String,
}

impl Embedded {
    /// A coordinator for the instance `instance_id`.
    pub fn new(instance_id: impl Into<String>) -> Embedded {
        Embedded {
            instance_id: instance_id.into(),
        }
    }
}

#[async_trait::async_trait]
impl Coordinator for Embedded {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    async fn is_leader(&self) -> bool {
        true
    }

    async fn assign(&self, _job: &JobDef, items: &[u32]) -> Result<Assignment, CoordError> {
        Ok(Assignment::from([(
            self.instance_id.clone(),
            items.to_vec(),
        )]))
    }
}
