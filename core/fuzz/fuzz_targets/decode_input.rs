#![no_main]
//! Any bytes on any input topic, with or without a key, decode to an event or a DecodeError, never a
//! panic. (The DLQ contract — one DLQ record per rejected input, with its bytes and a reason — is checked
//! by the property test `processor::dlq_contract_tests`.)

use libfuzzer_sys::fuzz_target;
use sluice_core::event::{SourceTopic, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let topic = SourceTopic::ALL[usize::from(selector % 3)];
    let (key, value) = rest.split_at(rest.len() / 3);
    let _ = decode(topic, Some(key), Some(value));
    let _ = decode(topic, None, Some(rest));
});
