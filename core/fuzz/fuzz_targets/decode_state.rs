#![no_main]
//! Corrupt state or progress bytes are an error, never a panic.

use libfuzzer_sys::fuzz_target;
use sluice_core::card_state::CardState;
use sluice_core::progress::ProgressRecord;

fuzz_target!(|data: &[u8]| {
    let _ = CardState::decode(data);
    let _ = ProgressRecord::decode(data);
});
