//! Charging the user: fastapi_poe's `authorize_cost` and `capture_cost` for the query
//! being answered, made by the host with the bot's access key.
//!
//! Return the error with `?` when Poe refuses, and the answer ends with Poe's
//! `insufficient_fund` error event, as in fastapi_poe:
//!
//! ```no_run
//! # fn run(out: &poe_bot::Responder) -> poe_bot::BotResult {
//! use poe_bot::cost::{self, CostItem};
//!
//! cost::authorize_cost(&[CostItem::new(2_500).described("image generation")])?;
//! // … the expensive work …
//! cost::capture_cost(&[CostItem::new(2_500).described("image generation")])?;
//! # Ok(()) }
//! ```

pub use crate::bindings::poe::bot::cost::{CostError, CostItem};

impl CostItem {
    /// An amount in thousandths of a US cent (1 USD = 100 000).
    pub fn new(amount_usd_milli_cents: u64) -> Self {
        Self { amount_usd_milli_cents, description: None }
    }

    /// Shown to the user.
    pub fn described(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }
}

/// Check that the user accepts paying `amounts` before the expensive work.
pub fn authorize_cost(amounts: &[CostItem]) -> Result<(), CostError> {
    crate::bindings::poe::bot::cost::authorize_cost(amounts)
}

/// Charge the user `amounts`.
pub fn capture_cost(amounts: &[CostItem]) -> Result<(), CostError> {
    crate::bindings::poe::bot::cost::capture_cost(amounts)
}
