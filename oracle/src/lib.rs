//! The fraud job's expected output, computed from the contract in docs/semantics.md and from nothing
//! else: this crate depends on no other Sluice crate, restates the validation rules, features, scoring
//! and output records from that page, decodes the progress log itself and compares committed records
//! field by field after parsing. It is deliberately naive (whole histories, rescanned per event) and
//! far too slow for production; what it expects of a long run is kept as fingerprints ([`Ledger`]).
//! `sluice verify` runs it over what a read_committed consumer sees.

pub mod compare;
pub mod features;
pub mod fingerprint;
pub mod input;
pub mod ledger;
pub mod model;
pub mod progress;
pub mod run;

pub use compare::{Check, Committed, Findings, compare};
pub use input::{Record, Topic};
pub use ledger::Ledger;
pub use model::Model;
pub use progress::{Progress, decode_progress, interleave};
pub use run::{Expected, Params, Scored, Sink, run_partition};
