//! Where a request's time goes: waiting on Argo, or the gateway's own work.
//!
//! **Overhead** is the time from the moment the request head was parsed to the moment the
//! response head is written, minus the time spent waiting on Argo before that moment. For a
//! buffered answer that is the total minus Argo's round trips (the response body follows at
//! once). For a live stream the response head goes out as soon as Argo's streaming answer has
//! started, so overhead is the stream's time to first byte minus Argo's time to its response
//! head: what the gateway adds before the client sees the stream start. Fragments relayed
//! afterwards are not counted. The figure includes reading the client's request body.

use std::time::{Duration, Instant};

pub const OVERHEAD_HEADER: &str = "x-argo-bridge-overhead-ms";

pub struct Timing {
    started: Instant,
    upstream: Duration,
    /// Frozen when the response head is written.
    overhead: Option<Duration>,
}

impl Timing {
    pub fn start() -> Self {
        Timing {
            started: Instant::now(),
            upstream: Duration::ZERO,
            overhead: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn upstream(&self) -> Duration {
        self.upstream
    }

    pub fn add_upstream(&mut self, waited: Duration) {
        self.upstream += waited;
    }

    /// Freezes the overhead at the moment the response head goes out and returns it as the
    /// header value (milliseconds, three decimals).
    pub fn response_head(&mut self) -> String {
        let overhead = self.overhead();
        self.overhead = Some(overhead);
        format_ms(overhead)
    }

    /// The frozen figure, or, when no response head was written, the figure as of now.
    pub fn overhead(&self) -> Duration {
        self.overhead
            .unwrap_or_else(|| self.started.elapsed().saturating_sub(self.upstream))
    }
}

pub fn format_ms(duration: Duration) -> String {
    let mut text = String::with_capacity(12);
    Millis(duration).write_to(&mut text);
    text
}

/// A duration written as milliseconds with three decimals, by integer arithmetic and without
/// `core::fmt` (float formatting, then `fmt`'s padding, showed in the profile of every
/// request: the figure is in a header and the access line).
pub struct Millis(pub Duration);

impl Millis {
    pub fn write_to(&self, out: &mut String) {
        let micros = self.0.as_micros();
        out.push_str(itoa::Buffer::new().format(micros / 1000));
        out.push('.');
        let fraction = micros % 1000;
        for digit in [fraction / 100, fraction / 10 % 10, fraction % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_excludes_upstream_and_freezes_at_the_response_head() {
        let mut timing = Timing::start();
        std::thread::sleep(Duration::from_millis(30));
        timing.add_upstream(Duration::from_millis(25));
        let header: f64 = timing.response_head().parse().unwrap();
        assert!(header >= 5.0, "{header}");
        assert!(header < timing.elapsed().as_secs_f64() * 1e3 - 24.0);
        let frozen = timing.overhead();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(timing.overhead(), frozen);
    }

    #[test]
    fn milliseconds_have_three_decimals() {
        assert_eq!(format_ms(Duration::from_micros(12_345)), "12.345");
        assert_eq!(format_ms(Duration::from_nanos(1_999)), "0.001");
        assert_eq!(format_ms(Duration::from_secs(61)), "61000.000");
    }

    #[test]
    fn upstream_longer_than_elapsed_is_zero_overhead() {
        let mut timing = Timing::start();
        timing.add_upstream(Duration::from_secs(5));
        assert_eq!(timing.response_head(), "0.000");
    }
}
