//! Which mask each layer uses.

use std::sync::Arc;

use phi3_core::{ModelError, Result};

use super::AttentionMask;

/// A mask per layer: the same for every layer, or alternating (GPT-3 alternates dense and
/// locally banded sparse layers, Brown et al., 2020).
#[derive(Debug, Clone)]
pub struct MaskSchedule {
    masks: Vec<Arc<dyn AttentionMask>>,
}

impl MaskSchedule {
    /// The same mask in every layer.
    pub fn uniform(mask: Arc<dyn AttentionMask>) -> Self {
        Self { masks: vec![mask] }
    }

    /// Layer `i` uses `masks[i % masks.len()]`; `masks` must not be empty.
    pub fn cycle(masks: Vec<Arc<dyn AttentionMask>>) -> Result<Self> {
        if masks.is_empty() {
            return Err(ModelError::part(
                "MaskSchedule",
                "masks",
                "is empty, expected at least one mask",
            ));
        }
        Ok(Self { masks })
    }

    /// Even layers `even`, odd layers `odd`.
    pub fn alternating(even: Arc<dyn AttentionMask>, odd: Arc<dyn AttentionMask>) -> Self {
        Self {
            masks: vec![even, odd],
        }
    }

    /// The mask of layer `layer`.
    pub fn mask(&self, layer: usize) -> Arc<dyn AttentionMask> {
        self.masks[layer % self.masks.len()].clone()
    }
}
