//! Per-task buffering that feeds the processor the earliest record (in event time) among the heads of the
//! task's three topic queues — Kafka Streams' approach to joining co-partitioned topics. Without it, a
//! consumer catching up on a backlog hands over large single-topic batches and records of the other topics
//! look late. The chosen order is recorded in the progress log, so replay never depends on this choice.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sluice_core::event::{SourceTopic, peek_event_time_ms};

use super::inputs::Consumed;

/// What is known about a topic partition whose queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicState {
    /// Nothing heard since assignment (no record, no end-of-log): its first fetch is still in flight.
    Unknown,
    /// Records were received and the end of the log was not reached: more are probably in flight.
    Behind,
    /// At the end of the log: nothing earlier can arrive now.
    CaughtUp,
}

/// How long to wait for a topic that has not answered yet (start-up, reassignment).
const MAX_WAIT_UNKNOWN: Duration = Duration::from_secs(30);

struct Buffered {
    event_time: i64,
    msg: Consumed,
}

/// The buffered input of one task.
#[derive(Default)]
pub struct Inbox {
    queues: [VecDeque<Buffered>; 3],
    /// Since when a non-empty inbox has been waiting for a topic that is not caught up.
    blocked_since: Option<Instant>,
}

impl Inbox {
    pub fn push(&mut self, msg: Consumed) {
        // Unparseable records sort first: they go straight to the DLQ and must not hold anything up.
        let event_time = msg
            .record
            .value
            .as_deref()
            .and_then(peek_event_time_ms)
            .unwrap_or(i64::MIN);
        if let Some(q) = self.queues.get_mut(usize::from(msg.record.topic.index())) {
            if q.is_empty() {
                // A drought ended: the next one gets its own waiting allowance.
                self.blocked_since = None;
            }
            q.push_back(Buffered { event_time, msg });
        }
    }

    pub fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Records buffered for `topic`.
    pub fn queue_len(&self, topic: SourceTopic) -> usize {
        self.queues
            .get(usize::from(topic.index()))
            .map_or(0, VecDeque::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next record to process, or None if the inbox should wait: a topic with no buffered record that is
    /// not caught up may still deliver an earlier record. After `max_idle` of waiting for a topic that is
    /// behind (or [`MAX_WAIT_UNKNOWN`] for one not heard from yet), proceed anyway.
    pub fn pop_next(
        &mut self,
        state: impl Fn(SourceTopic) -> TopicState,
        max_idle: Duration,
    ) -> Option<Consumed> {
        if self.is_empty() {
            self.blocked_since = None;
            return None;
        }
        let mut allowance: Option<Duration> = None;
        for t in SourceTopic::ALL {
            if self
                .queues
                .get(usize::from(t.index()))
                .is_some_and(VecDeque::is_empty)
            {
                let wait = match state(t) {
                    TopicState::Unknown => Some(MAX_WAIT_UNKNOWN),
                    TopicState::Behind => Some(max_idle),
                    TopicState::CaughtUp => None,
                };
                allowance = allowance.max(wait);
            }
        }
        let waiting_for_data = allowance.is_some();
        if let Some(allowance) = allowance {
            let since = *self.blocked_since.get_or_insert_with(Instant::now);
            if since.elapsed() < allowance {
                return None;
            }
        }
        let (slot, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|b| (i, b.event_time)))
            // Ties go to the lower topic index, so the choice is stable.
            .min_by_key(|&(i, t)| (t, i))?;
        let b = self.queues.get_mut(slot)?.pop_front()?;
        if !waiting_for_data {
            self.blocked_since = None;
        }
        Some(b.msg)
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::processor::OwnedInputRecord;

    use super::*;

    fn msg(topic: SourceTopic, offset: i64, t: i64) -> Consumed {
        let payload = format!(r#"{{"card_id":"c","event_time_ms":{t}}}"#).into_bytes();
        Consumed {
            record: OwnedInputRecord {
                topic,
                partition: 0,
                offset,
                key: None,
                value: Some(payload),
            },
            timestamp_ms: None,
        }
    }

    #[test]
    fn picks_the_earliest_head_when_all_topics_have_data() {
        let mut inbox = Inbox::default();
        inbox.push(msg(SourceTopic::Authorizations, 0, 300));
        inbox.push(msg(SourceTopic::Authorizations, 1, 400));
        inbox.push(msg(SourceTopic::DeviceTelemetry, 0, 350));
        inbox.push(msg(SourceTopic::AccountChanges, 0, 100));
        let order: Vec<(SourceTopic, i64)> =
            std::iter::from_fn(|| inbox.pop_next(|_| TopicState::CaughtUp, Duration::ZERO))
                .map(|m| (m.record.topic, m.record.offset))
                .collect();
        use SourceTopic::*;
        assert_eq!(
            order,
            vec![
                (AccountChanges, 0),
                (Authorizations, 0),
                (DeviceTelemetry, 0),
                (Authorizations, 1)
            ]
        );
    }

    #[test]
    fn waits_for_a_topic_that_is_not_caught_up_until_max_idle() {
        let mut inbox = Inbox::default();
        inbox.push(msg(SourceTopic::Authorizations, 0, 300));
        assert!(
            inbox
                .pop_next(|_| TopicState::Behind, Duration::from_secs(60))
                .is_none()
        );
        assert!(
            inbox
                .pop_next(|_| TopicState::Unknown, Duration::ZERO)
                .is_none()
        );
        assert!(
            inbox
                .pop_next(|_| TopicState::CaughtUp, Duration::from_secs(60))
                .is_some()
        );
        inbox.push(msg(SourceTopic::Authorizations, 1, 300));
        assert!(
            inbox
                .pop_next(|_| TopicState::Behind, Duration::ZERO)
                .is_some()
        );
    }
}
