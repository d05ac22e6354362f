//! Whether and when a unit that ended starts again: `restart`, `oom_policy`, the backoff and
//! the start limit. Pure: the caller supplies the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::unit::{OomPolicy, Restart, Supervision};

/// How a unit's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Exit status 0.
    Success,
    ExitCode(i32),
    Signal(i32),
    /// SIGKILL from the kernel's OOM killer.
    OomKill,
    /// Ended after a stop request (by its stop signal, or killed after the grace period).
    Stopped,
}

impl Ended {
    /// The unit's Result, as systemd names it.
    pub fn result(self) -> &'static str {
        match self {
            Ended::Success | Ended::Stopped => "success",
            Ended::ExitCode(_) => "exit-code",
            Ended::Signal(_) => "signal",
            Ended::OomKill => "oom-kill",
        }
    }
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Restart {
        after: Duration,
    },
    /// Stay down, with this Result.
    Stay {
        result: &'static str,
    },
}

/// The restart history of one unit.
#[derive(Clone, Debug, Default)]
pub struct RestartState {
    /// Restarts since the unit last stayed up `reset_after`.
    consecutive: u32,
    /// Start times within the start limit's interval.
    starts: VecDeque<Instant>,
    last_start: Option<Instant>,
}

impl RestartState {
    /// Record a start.
    pub fn started(&mut self, now: Instant) {
        self.starts.push_back(now);
        self.last_start = Some(now);
    }

    /// Decide after the main process ended at `now`.
    pub fn decide(&mut self, policy: &Supervision, ended: Ended, now: Instant) -> Decision {
        if self
            .last_start
            .is_some_and(|s| now.duration_since(s) >= policy.restart_backoff.reset_after)
        {
            self.consecutive = 0;
        }
        let wanted = match ended {
            Ended::Stopped => false,
            // `oom_policy: restart` restarts whatever `restart` says; `continue` leaves the
            // choice to `restart`, as for any other death.
            Ended::OomKill => match policy.oom_policy {
                OomPolicy::Restart => true,
                OomPolicy::Stop => false,
                OomPolicy::Continue => restart_wanted(policy.restart, ended, self.consecutive),
            },
            _ => restart_wanted(policy.restart, ended, self.consecutive),
        };
        if !wanted {
            return Decision::Stay {
                result: ended.result(),
            };
        }
        let limit = policy.start_limit;
        while self
            .starts
            .front()
            .is_some_and(|s| now.duration_since(*s) > limit.interval)
        {
            self.starts.pop_front();
        }
        if self.starts.len() >= limit.burst as usize {
            return Decision::Stay {
                result: "start-limit-hit",
            };
        }
        let backoff = policy.restart_backoff;
        let after = backoff
            .initial
            .saturating_mul(1 << self.consecutive.min(20))
            .min(backoff.max);
        self.consecutive += 1;
        Decision::Restart { after }
    }
}

fn restart_wanted(restart: Restart, ended: Ended, consecutive: u32) -> bool {
    let failed = !matches!(ended, Ended::Success | Ended::Stopped);
    match restart {
        Restart::No => false,
        Restart::Always | Restart::UnlessStopped => true,
        Restart::OnFailure(None) => failed,
        Restart::OnFailure(Some(n)) => failed && consecutive < n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::validate::parse_unit;

    fn policy(extra: &str) -> Supervision {
        let text = format!("command: [true]\n{extra}");
        let parsed = parse_unit(std::path::Path::new("u.yaml"), text.as_bytes());
        parsed.valid().expect("valid unit").supervision.clone()
    }

    #[test]
    fn restart_policies() {
        let t = Instant::now();
        let mut s = RestartState::default();
        s.started(t);
        assert_eq!(
            s.decide(&policy(""), Ended::ExitCode(1), t),
            Decision::Stay {
                result: "exit-code"
            }
        );
        let p = policy("restart: on-failure:2\n");
        let mut s = RestartState::default();
        s.started(t);
        assert_eq!(
            s.decide(&p, Ended::Success, t),
            Decision::Stay { result: "success" }
        );
        assert!(matches!(
            s.decide(&p, Ended::ExitCode(3), t),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            s.decide(&p, Ended::Signal(11), t),
            Decision::Restart { .. }
        ));
        assert_eq!(
            s.decide(&p, Ended::ExitCode(3), t),
            Decision::Stay {
                result: "exit-code"
            }
        );
        assert_eq!(
            s.decide(&policy("restart: always\n"), Ended::Stopped, t),
            Decision::Stay { result: "success" }
        );
    }

    #[test]
    fn oom_policies() {
        let t = Instant::now();
        let mut s = RestartState::default();
        assert!(matches!(
            s.decide(&policy(""), Ended::OomKill, t),
            Decision::Restart { .. }
        ));
        assert_eq!(
            s.decide(
                &policy("oom_policy: stop\nrestart: always\n"),
                Ended::OomKill,
                t
            ),
            Decision::Stay { result: "oom-kill" }
        );
        assert_eq!(
            RestartState::default().decide(&policy("oom_policy: continue\n"), Ended::OomKill, t),
            Decision::Stay { result: "oom-kill" }
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_good_run() {
        let p = policy(
            "restart: always\nrestart_backoff: {initial: 100ms, max: 1s, reset_after: 10s}\nstart_limit: {burst: 100, interval: 1s}\n",
        );
        let mut s = RestartState::default();
        let mut t = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..6 {
            s.started(t);
            if let Decision::Restart { after } = s.decide(&p, Ended::ExitCode(1), t) {
                delays.push(after.as_millis());
            }
            t += Duration::from_millis(1);
        }
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        s.started(t);
        t += Duration::from_secs(11);
        assert_eq!(
            s.decide(&p, Ended::ExitCode(1), t),
            Decision::Restart {
                after: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn the_start_limit_stops_a_crash_loop() {
        let p = policy("restart: always\nstart_limit: {burst: 3, interval: 10s}\n");
        let mut s = RestartState::default();
        let t = Instant::now();
        let mut decisions = Vec::new();
        for i in 0..4 {
            s.started(t + Duration::from_millis(i));
            decisions.push(s.decide(&p, Ended::ExitCode(1), t + Duration::from_millis(i)));
        }
        assert!(matches!(decisions[1], Decision::Restart { .. }));
        assert_eq!(
            decisions[2],
            Decision::Stay {
                result: "start-limit-hit"
            }
        );
    }
}
