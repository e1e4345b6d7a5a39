//! The run's time limits: one absolute deadline, fixed when the run starts, and the phases
//! every stage obeys.
//!
//! A Lambda invocation ends at a hard wall: work past it is killed, with no report and no
//! digest. So the run plans backwards from it:
//!
//! - **soft** (`hard − scan margin`): no new account starts after it;
//! - **hard** (`end − delivery reserve`): accounts still running are abandoned (reported as not
//!   reached), and no IAM change starts;
//! - **end**: the invocation's own deadline. Delivery (the report to S3, the one digest) starts
//!   with the reserve left, and each of its calls gets a timeout cut to fit what remains.
//!
//! The reserve is a fifth of the budget, at most a minute; the scan margin another fifth, at
//! most two minutes. A run without a deadline (the CLI) never stops on its own; Ctrl-C is its
//! soft deadline.

use std::time::Duration;

use tokio::time::Instant;

/// The longest delivery reserve.
const MAX_RESERVE: Duration = Duration::from_secs(60);
/// The longest margin between the soft and the hard deadline.
const MAX_SCAN_MARGIN: Duration = Duration::from_secs(120);
/// Kept free at the very end, for the response itself.
const FINAL_MARGIN: Duration = Duration::from_millis(200);
/// A change's outcome entry gets this share of what is left ([`Deadline::delivery_timeout`]):
/// after the hard phase it may still be written, within the delivery reserve.
pub const JOURNAL_SHARE: u32 = 6;

/// The deadline of a run, and its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    phases: Option<Phases>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phases {
    soft: Instant,
    hard: Instant,
    end: Instant,
}

impl Deadline {
    /// No deadline: the run goes on until it is done (or interrupted).
    pub fn none() -> Deadline {
        Deadline { phases: None }
    }

    /// A deadline `budget` after `start` (the moment the invocation began).
    pub fn after(start: Instant, budget: Duration) -> Deadline {
        let reserve = (budget / 5).min(MAX_RESERVE);
        let margin = (budget / 5).min(MAX_SCAN_MARGIN);
        let end = start + budget;
        let hard = end - reserve;
        Deadline {
            phases: Some(Phases {
                soft: hard - margin,
                hard,
                end,
            }),
        }
    }

    /// Whether no new account may start (the soft deadline has passed).
    pub fn past_soft(&self) -> bool {
        self.phases
            .is_some_and(|phases| Instant::now() >= phases.soft)
    }

    /// Whether no IAM change may start, and unfinished accounts are abandoned.
    pub fn past_hard(&self) -> bool {
        self.phases
            .is_some_and(|phases| Instant::now() >= phases.hard)
    }

    /// Resolves at the soft deadline; never without one.
    pub async fn soft(&self) {
        sleep_until(self.phases.map(|phases| phases.soft)).await;
    }

    /// Resolves at the hard deadline; never without one.
    pub async fn hard(&self) {
        sleep_until(self.phases.map(|phases| phases.hard)).await;
    }

    /// Runs `work` until the hard deadline: `None` if the deadline came first (the work is
    /// dropped, mid-flight). The deadline is looked at first, every time: work is never started,
    /// nor resumed, once the hard phase has begun.
    pub async fn bounded<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.hard() => None,
            done = work => Some(done),
        }
    }

    /// What is left until the hard deadline (zero once past it); `None` without a deadline.
    pub fn until_hard(&self) -> Option<Duration> {
        self.phases
            .map(|phases| phases.hard.saturating_duration_since(Instant::now()))
    }

    /// How long one delivery call may take now: what is left until the end (less a small
    /// margin for the response), shared by `calls_left` calls still to make; `None` without a
    /// deadline (the configured timeouts apply).
    pub fn delivery_timeout(&self, calls_left: u32) -> Option<Duration> {
        let phases = self.phases?;
        let left = phases
            .end
            .saturating_duration_since(Instant::now())
            .saturating_sub(FINAL_MARGIN);
        Some(left / calls_left.max(1))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phases_are_cut_from_the_end_backwards() {
        let start = Instant::now();
        let deadline = Deadline::after(start, Duration::from_secs(900));
        let Some(phases) = deadline.phases else {
            panic!("a deadline")
        };
        assert_eq!(phases.end - start, Duration::from_secs(900));
        assert_eq!(
            phases.hard - start,
            Duration::from_secs(840),
            "a minute of reserve"
        );
        assert_eq!(
            phases.soft - start,
            Duration::from_secs(720),
            "two minutes of margin"
        );
        // A three-second budget keeps the same shape.
        let small = Deadline::after(start, Duration::from_secs(3)).phases;
        let small = small.expect("a deadline");
        assert_eq!(small.hard - start, Duration::from_millis(2400));
        assert_eq!(small.soft - start, Duration::from_millis(1800));
    }

    #[tokio::test]
    async fn the_phases_pass_in_order_and_delivery_gets_what_is_left() {
        // A one-second budget: soft at 600 ms, hard at 800 ms, the end at 1 s.
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(1));
        assert!(!deadline.past_soft() && !deadline.past_hard());
        deadline.soft().await;
        assert!(deadline.past_soft() && !deadline.past_hard());
        deadline.hard().await;
        assert!(deadline.past_hard());
        // At most 200 ms remain, less the final margin of 200 ms: nothing to share.
        let left = deadline.delivery_timeout(2).expect("a deadline");
        assert!(left <= Duration::from_millis(1), "{left:?}");
        let early = Deadline::after(Instant::now(), Duration::from_secs(100));
        let share = early.delivery_timeout(2).expect("a deadline");
        assert!(
            share > Duration::from_secs(49) && share < Duration::from_secs(50),
            "{share:?}"
        );
        assert_eq!(Deadline::none().delivery_timeout(1), None);
        assert!(!Deadline::none().past_hard());
    }

    #[tokio::test]
    async fn once_the_hard_phase_has_begun_no_work_starts() {
        let deadline = Deadline::after(Instant::now(), Duration::from_millis(10));
        deadline.hard().await;
        // Work that is ready at once still never runs: the deadline is looked at first.
        for _ in 0..64 {
            let started = std::sync::atomic::AtomicBool::new(false);
            let work = async {
                started.store(true, std::sync::atomic::Ordering::SeqCst);
            };
            assert_eq!(deadline.bounded(work).await, None);
            assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
        }
        assert_eq!(deadline.until_hard(), Some(Duration::ZERO));
        assert_eq!(Deadline::none().until_hard(), None);
    }
}
