//! The two kinds of measurement: a closed loop at fixed concurrency (keep-alive connections, each
//! sending its next request when the last answer is complete) and holding many streams open.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::http::{Conn, Outcome, Request, ResponseParser};
use crate::stats::micros;

/// Every token of a scripted answer starts with this, so arrivals can be timed in any framing.
pub const MARKER: &[u8] = b"Tq";

/// What one target is asked, and what a correct answer holds.
#[derive(Debug, Clone)]
pub struct Job {
    pub addr: SocketAddr,
    pub request: Request,
    /// What starts each token in the answer: [`MARKER`], or more of the event around it where
    /// the format repeats the whole text after its deltas (Responses' `.done` events).
    pub marker: &'static [u8],
    /// Markers a complete, correct answer carries (0: not checked).
    pub markers: usize,
}

impl Job {
    fn accepts(&self, outcome: &Outcome) -> bool {
        self.judge(outcome).is_ok()
    }

    /// Why an answer is not a correct one.
    pub fn judge(&self, outcome: &Outcome) -> Result<(), String> {
        if outcome.status != 200 {
            Err(format!("status {}", outcome.status))
        } else if self.markers != 0 && outcome.markers != self.markers {
            Err(format!("{} tokens, not {}", outcome.markers, self.markers))
        } else {
            Ok(())
        }
    }

    /// One request on a new connection: `Ok` when the answer is a correct one, else why not
    /// (with the start of the answer's body).
    pub async fn probe(&self, timeout: Duration) -> Result<(), String> {
        let round_trip = async {
            let mut conn = Conn::connect(self.addr).await?;
            conn.fetch(&self.request, self.marker).await
        };
        match tokio::time::timeout(timeout, round_trip).await {
            Err(_) => Err("timeout".into()),
            Ok(Err(error)) => Err(error.to_string()),
            Ok(Ok((outcome, body))) => self.judge(&outcome).map_err(|why| {
                let text = String::from_utf8_lossy(&body);
                let start: String = text.chars().take(160).collect();
                format!("{why}: {}", start.trim())
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Longest a single round trip may take before it counts as an error.
    pub request_timeout: Duration,
}

/// Raw samples of one run, in microseconds.
#[derive(Debug, Default)]
pub struct Samples {
    pub ok: u64,
    pub errors: u64,
    pub latency: Vec<u32>,
    /// Request sent -> first token.
    pub ttft: Vec<u32>,
    /// Between consecutive tokens of one answer.
    pub gap: Vec<u32>,
    /// What went wrong with the first counted error.
    pub first_error: Option<String>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latency.extend(other.latency);
        self.ttft.extend(other.ttft);
        self.gap.extend(other.gap);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, counted: bool, why: impl FnOnce() -> String) {
        if counted {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(why());
            }
        }
    }

    fn record(&mut self, sent: Instant, done: Instant, arrivals: &[Instant]) {
        self.ok += 1;
        self.latency.push(micros(done - sent));
        if let Some(first) = arrivals.first() {
            self.ttft.push(micros(*first - sent));
        }
        self.gap
            .extend(arrivals.windows(2).map(|pair| micros(pair[1] - pair[0])));
    }
}

/// A closed loop: `concurrency` connections for warmup + measure; only requests sent after the
/// warmup count.
pub async fn closed_loop(job: Arc<Job>, spec: LoadSpec) -> Samples {
    let start = Instant::now();
    let record_from = start + spec.warmup;
    let deadline = record_from + spec.measure;
    let mut workers = JoinSet::new();
    for _ in 0..spec.concurrency {
        workers.spawn(worker(job.clone(), spec, record_from, deadline));
    }
    let mut samples = Samples::default();
    while let Some(result) = workers.join_next().await {
        if let Ok(worker_samples) = result {
            samples.merge(worker_samples);
        }
    }
    samples
}

async fn worker(job: Arc<Job>, spec: LoadSpec, record_from: Instant, deadline: Instant) -> Samples {
    let mut samples = Samples::default();
    let mut conn: Option<Conn> = None;
    let mut arrivals = Vec::new();
    while Instant::now() < deadline {
        let mut open = match conn.take() {
            Some(open) => open,
            None => match Conn::connect(job.addr).await {
                Ok(open) => open,
                Err(error) => {
                    samples.error(Instant::now() >= record_from, || {
                        format!("connect: {error}")
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        arrivals.clear();
        let sent = Instant::now();
        let round_trip = async {
            open.send(&job.request).await?;
            open.read_response(job.marker, &mut arrivals).await
        };
        let result = tokio::time::timeout(spec.request_timeout, round_trip).await;
        let done = Instant::now();
        let counted = sent >= record_from;
        match result {
            Ok(Ok(outcome)) if job.accepts(&outcome) => {
                if counted {
                    samples.record(sent, done, &arrivals);
                }
                if outcome.keep_alive {
                    conn = Some(open);
                }
            }
            Ok(Ok(outcome)) => {
                samples.error(counted, || job.judge(&outcome).err().unwrap_or_default());
                if outcome.keep_alive {
                    conn = Some(open);
                }
            }
            Ok(Err(error)) => samples.error(counted, || error.to_string()),
            Err(_) => samples.error(counted, || "timeout".into()),
        }
    }
    samples
}

#[derive(Debug, Clone, Copy)]
pub struct HoldSpec {
    pub streams: usize,
    /// New connections per second while opening.
    pub ramp_per_second: usize,
    /// Longest wait for every stream's first token.
    pub open_timeout: Duration,
    /// Pause with all streams open before sampling memory.
    pub settle: Duration,
}

/// Streams that had their first token and were still open when sampled.
pub struct Held {
    pub open: usize,
    pub failed: usize,
}

/// Opens `spec.streams` streams, waits until they all produce a token (or the timeout), waits
/// `settle`, calls `sample` while they are all open, then closes them.
pub async fn hold_streams<T>(
    job: Arc<Job>,
    spec: HoldSpec,
    sample: impl FnOnce() -> T,
) -> (Held, T) {
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);
    let mut streams = JoinSet::new();
    let batch = 50;
    let pause = Duration::from_secs_f64(batch as f64 / spec.ramp_per_second.max(1) as f64);
    for index in 0..spec.streams {
        streams.spawn(hold_one(
            job.clone(),
            open.clone(),
            failed.clone(),
            released.clone(),
        ));
        if index % batch == batch - 1 {
            tokio::time::sleep(pause).await;
        }
    }
    let deadline = Instant::now() + spec.open_timeout;
    while open.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst) < spec.streams
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(spec.settle).await;
    let held = Held {
        open: open.load(Ordering::SeqCst),
        failed: failed.load(Ordering::SeqCst),
    };
    let sampled = sample();
    let _ = release.send(true);
    let drain = async { while streams.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        streams.abort_all();
    }
    (held, sampled)
}

async fn hold_one(
    job: Arc<Job>,
    open: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    mut released: watch::Receiver<bool>,
) {
    let mut parser = ResponseParser::new(job.marker);
    let mut arrivals = Vec::new();
    let first_token = async {
        let mut conn = Conn::connect(job.addr).await?;
        conn.send(&job.request).await?;
        while parser.markers() == 0 {
            if conn.advance(&mut parser, &mut arrivals).await?.is_some() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok::<Conn, std::io::Error>(conn)
    };
    let mut conn = tokio::select! {
        result = first_token => match result {
            Ok(conn) => conn,
            Err(_) => {
                failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        },
        _ = released.wait_for(|released| *released) => return,
    };
    open.fetch_add(1, Ordering::SeqCst);
    // Keep reading, as a client would, until released; a stream that ends first is not held.
    let rest = async {
        loop {
            arrivals.clear();
            match conn.advance(&mut parser, &mut arrivals).await {
                Ok(None) => continue,
                _ => return,
            }
        }
    };
    tokio::select! {
        _ = rest => {
            open.fetch_sub(1, Ordering::SeqCst);
            failed.fetch_add(1, Ordering::SeqCst);
        }
        _ = released.wait_for(|released| *released) => {}
    }
}
