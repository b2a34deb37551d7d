//! Unit tests of the election's pure parts and of the leadership deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn seen(holder: Option<&str>, since: Instant) -> Seen {
    Seen {
        version: "7".into(),
        holder: holder.map(str::to_string),
        duration: Duration::from_secs(15),
        since,
    }
}

#[tokio::test(start_paused = true)]
async fn another_holder_is_waited_for_its_whole_duration_on_our_clock() {
    let t0 = Instant::now();
    let s = seen(Some("b"), t0);
    assert_eq!(next_move(&s, "a", t0), Move::Wait);
    assert_eq!(next_move(&s, "a", t0 + Duration::from_secs(15)), Move::Wait);
    assert_eq!(
        next_move(&s, "a", t0 + Duration::from_millis(15_001)),
        Move::Take
    );
    assert_eq!(next_move(&s, "b", t0), Move::Renew);
    assert_eq!(next_move(&seen(None, t0), "a", t0), Move::Take);
    assert_eq!(next_move(&seen(Some(""), t0), "a", t0), Move::Take);
}

#[tokio::test(start_paused = true)]
async fn leadership_ends_at_the_renew_deadline_unless_renewed() {
    let l = Leadership::elected();
    assert!(!l.is_leading());
    l.set(Some(Instant::now() + RENEW_DEADLINE));
    assert!(l.is_leading());
    tokio::time::advance(Duration::from_secs(6)).await;
    // A renewal moves the deadline.
    l.set(Some(Instant::now() + RENEW_DEADLINE));
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(l.is_leading());
    let started = Instant::now();
    l.lost().await;
    assert!(!l.is_leading());
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_racing_leadership_is_abandoned_when_it_ends() {
    let l = Leadership::elected();
    l.set(Some(Instant::now() + RENEW_DEADLINE));
    let long_call = tokio::time::sleep(Duration::from_secs(60));
    let abandoned = tokio::select! {
        biased;
        () = l.lost() => true,
        () = long_call => false,
    };
    assert!(abandoned);
    assert!(Leadership::always().is_leading());
}

#[tokio::test(start_paused = true)]
async fn not_leading_is_lost_at_once() {
    let l = Leadership::elected();
    l.lost().await;
    l.set(Some(Instant::now()));
    assert!(!l.is_leading());
    l.lost().await;
}
