//! The fraud job's expected output, computed from the contract in docs/semantics.md and from nothing
//! else: this crate depends on no other Sluice crate, restates the validation rules, features, scoring
//! and output records from that page, decodes the progress log itself and compares committed records
//! field by field after parsing. It is deliberately naive (whole histories, rescanned per event) and
//! far too slow for production. `sluice verify` runs it over what a read_committed consumer sees.

pub mod compare;
pub mod features;
pub mod input;
pub mod model;
pub mod progress;
pub mod run;

pub use compare::{Committed, Findings, compare};
pub use input::{Record, Topic};
pub use model::Model;
pub use progress::{Progress, decode_progress, interleave};
pub use run::{Expected, Params, run_partition};
