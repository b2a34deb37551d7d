//! The high watermark a consumer already knows, without asking the broker.
//!
//! Every fetch response carries the partition's high watermark and librdkafka caches it;
//! `rd_kafka_get_watermark_offsets` reads that cache (no network). rust-rdkafka only wraps the network
//! variant (`fetch_watermarks`), so this module makes the one FFI call itself.
#![allow(unsafe_code)]

use std::ffi::CStr;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// The high watermark of `topic`/`partition` from the consumer's last fetch response, if one arrived.
pub fn cached_high_watermark<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &CStr,
    partition: i32,
) -> Option<i64> {
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client handle is valid while `consumer` is borrowed; `topic` is NUL-terminated and outlives
    // the call; `low` and `high` are valid, writable i64s. The call only reads librdkafka's cached state.
    let err = unsafe {
        rdsys::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
