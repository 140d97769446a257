//! How many attempts the portal takes: per NIF/NIE (someone guessing one
//! citizen's code from many addresses) and per client address (one machine
//! trying many NIFs). Three wrong codes already void a code; these limits
//! slow a flood before it reaches the registry, and an attempt over them
//! is answered with how long to wait.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One limit: at most `max` attempts in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

/// The portal's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_nif: Limit,
    pub per_address: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        let window = Duration::from_secs(15 * 60);
        Limits {
            per_nif: Limit { max: 5, window },
            per_address: Limit { max: 20, window },
        }
    }
}

/// The attempts seen, by key, over one limit.
pub struct Counter {
    limit: Limit,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Counter {
    pub fn new(limit: Limit) -> Self {
        Counter {
            limit,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `key` at `now`, or says how long until one
    /// is taken again. A refused attempt is not counted.
    pub fn attempt(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.limit.window;
        // Forget what no longer counts, so the map stays as small as the
        // set of keys seen in one window.
        seen.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = seen.entry(key.to_string()).or_default();
        if times.len() >= self.limit.max {
            let wait = times
                .front()
                .map_or(window, |t| window.saturating_sub(now.duration_since(*t)));
            return Err(wait);
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_over_the_limit_waits_until_the_oldest_leaves_the_window() {
        let limit = Limit {
            max: 2,
            window: Duration::from_secs(60),
        };
        let c = Counter::new(limit);
        let t0 = Instant::now();
        assert_eq!(c.attempt("a", t0), Ok(()));
        assert_eq!(c.attempt("a", t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(
            c.attempt("a", t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        // Another key has its own count.
        assert_eq!(c.attempt("b", t0 + Duration::from_secs(20)), Ok(()));
        // The first attempt left the window: one more is taken.
        assert_eq!(c.attempt("a", t0 + Duration::from_secs(60)), Ok(()));
    }
}
