//! Each input topic's fields: the keys it allows and the order its fields are read (and so which
//! problem is reported first).

use super::object::Object;
use crate::event::error::DecodeError;
use crate::event::{
    AccountChange, Authorization, DeviceTelemetry, InputEvent, MAX_AMOUNT_MINOR, MAX_EVENT_TIME_MS,
    SourceTopic,
};

pub(super) const AUTH_FIELDS: &[&str] = &[
    "txn_id",
    "card_id",
    "account_id",
    "merchant_id",
    "mcc",
    "amount_minor",
    "currency",
    "country",
    "device_id",
    "channel",
    "event_time_ms",
];
const TELEMETRY_FIELDS: &[&str] = &["card_id", "device_id", "trusted", "event_time_ms"];
const ACCOUNT_FIELDS: &[&str] = &[
    "card_id",
    "status",
    "home_country",
    "credit_limit_minor",
    "event_time_ms",
];

/// An `authorizations` record.
pub(super) fn authorization(obj: &Object<'_>) -> Result<InputEvent, DecodeError> {
    obj.check_keys(AUTH_FIELDS, SourceTopic::Authorizations)?;
    Ok(InputEvent::Authorization(Authorization {
        txn_id: obj.id("txn_id")?,
        card_id: obj.id("card_id")?,
        account_id: obj.id("account_id")?,
        merchant_id: obj.id("merchant_id")?,
        mcc: obj.mcc("mcc")?,
        amount_minor: obj.int_in("amount_minor", 1, MAX_AMOUNT_MINOR)?,
        currency: obj.upper_letters("currency", 3, "ISO 4217")?,
        country: obj.upper_letters("country", 2, "ISO 3166-1 alpha-2")?,
        device_id: obj.id("device_id")?,
        channel: obj.channel("channel")?,
        event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
    }))
}

/// A `device-telemetry` record.
pub(super) fn device_telemetry(obj: &Object<'_>) -> Result<InputEvent, DecodeError> {
    obj.check_keys(TELEMETRY_FIELDS, SourceTopic::DeviceTelemetry)?;
    Ok(InputEvent::DeviceTelemetry(DeviceTelemetry {
        card_id: obj.id("card_id")?,
        device_id: obj.id("device_id")?,
        trusted: obj.bool("trusted")?,
        event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
    }))
}

/// An `account-changes` record.
pub(super) fn account_change(obj: &Object<'_>) -> Result<InputEvent, DecodeError> {
    obj.check_keys(ACCOUNT_FIELDS, SourceTopic::AccountChanges)?;
    Ok(InputEvent::AccountChange(AccountChange {
        card_id: obj.id("card_id")?,
        status: obj.status("status")?,
        home_country: obj.upper_letters("home_country", 2, "ISO 3166-1 alpha-2")?,
        credit_limit_minor: obj.int_in("credit_limit_minor", 0, i64::MAX)?,
        event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
    }))
}
