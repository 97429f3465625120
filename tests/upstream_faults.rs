//! Argo misbehaving at the HTTP level, played by a fake Argo written here (raw HTTP over a std
//! listener) that counts what it receives: a request is never delivered twice, interim answers
//! cannot hang a request, a broken Retry-After is dropped, and buffered answers share a budget.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// One request as the fake received it.
struct Received {
    path: String,
    body: String,
    /// 1 for the first request on its connection, 2 for the next, ...
    on_connection: usize,
}

/// What the fake does with a connection after answering.
enum After {
    KeepAlive,
    Close,
}

type Behaviour = dyn Fn(&mut TcpStream, &Received) -> After + Send + Sync;

struct FakeArgo {
    port: u16,
    requests: Arc<AtomicUsize>,
    /// How long after receiving a request the fake saw the gateway close the connection, for
    /// behaviours that watch for it.
    closed_after: Arc<Mutex<Vec<Duration>>>,
}

impl FakeArgo {
    fn start(
        behaviour: impl Fn(&mut TcpStream, &Received) -> After + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let counter = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (behaviour, counter) = (behaviour.clone(), counter.clone());
                thread::spawn(move || serve(stream, &*behaviour, &counter));
            }
        });
        FakeArgo {
            port,
            requests,
            closed_after: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn base(&self) -> String {
        argo_base(self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// A gateway in front of this fake, which serves no model list: the gateway neither reads
    /// it nor probes it for readiness, so that the fake counts only the requests under test.
    fn gateway(&self, env: &[(&str, &str)]) -> (Process, u16) {
        let mut env = env.to_vec();
        env.push(("ARGO_BRIDGE_MODEL_REFRESH_INTERVAL_S", "0"));
        env.push(("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "0"));
        start_gateway(&self.base(), &env)
    }
}

fn serve(stream: TcpStream, behaviour: &Behaviour, counter: &AtomicUsize) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for on_connection in 1.. {
        let Some((path, body)) = read_request(&mut reader) else {
            return;
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let received = Received {
            path,
            body,
            on_connection,
        };
        if let After::Close = behaviour(&mut writer, &received) {
            return;
        }
    }
}

/// The path and body of the next request; `None` when the connection ends first.
fn read_request(reader: &mut impl BufRead) -> Option<(String, String)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

/// A valid keep-alive answer of the endpoint the request went to.
fn answer_normally(stream: &mut TcpStream, received: &Received) -> After {
    let answer = if received.path.ends_with("/streamchat/") {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n".to_string()
    } else {
        let body = if received.path.ends_with("/embed/") {
            r#"{"embedding":[[0.1,0.2]]}"#
        } else {
            r#"{"response":"hi"}"#
        };
        json_answer(200, body)
    };
    let _ = stream.write_all(answer.as_bytes());
    After::KeepAlive
}

fn json_answer(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Reset,
    Close,
    Garbage,
}

/// Answers the first request on each connection normally; after reading the second one whole,
/// fails as `fault` says.
fn fail_second_request(fault: Fault) -> impl Fn(&mut TcpStream, &Received) -> After {
    move |stream, received| {
        if received.on_connection == 1 {
            return answer_normally(stream, received);
        }
        match fault {
            Fault::Reset => {
                let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
            }
            Fault::Close => {}
            Fault::Garbage => {
                let _ = stream.write_all(b"\x00\x01 this is not HTTP\r\n\r\n");
            }
        }
        After::Close
    }
}

/// The three ways a request reaches Argo: chat, streaming chat, embeddings.
fn requests() -> [(&'static str, &'static str, String); 3] {
    [
        ("chat", "/v1/chat/completions", chat_request(false)),
        ("streaming chat", "/v1/chat/completions", chat_request(true)),
        (
            "embeddings",
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "hi"}).to_string(),
        ),
    ]
}

fn assert_delivered_once_then_502(fault: Fault) {
    for (name, path, body) in requests() {
        let argo = FakeArgo::start(fail_second_request(fault));
        let (_gateway, port) = argo.gateway(&[]);
        let warm_up = post_as_alice(port, path, &body);
        assert_eq!(warm_up.status, 200, "{name} warm-up: {}", warm_up.text());
        post_as_alice(port, path, &body).expect_error(502);
        assert_eq!(
            argo.requests(),
            2,
            "{name} after {fault:?}: Argo must get the request exactly once"
        );
    }
}

#[test]
fn a_request_reset_after_delivery_is_not_sent_again() {
    assert_delivered_once_then_502(Fault::Reset);
}

#[test]
fn a_request_closed_after_delivery_is_not_sent_again() {
    assert_delivered_once_then_502(Fault::Close);
}

#[test]
fn a_request_answered_with_garbage_is_not_sent_again() {
    assert_delivered_once_then_502(Fault::Garbage);
}

/// Whether the peer has closed (or reset) the connection, without waiting.
fn peer_closed(stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let closed = match stream.peek(&mut [0; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

impl FakeArgo {
    /// Writes `start` then `piece` every 50 ms until the gateway closes the connection, and
    /// records when that happened.
    fn start_trickling(start: &'static [u8], piece: &'static [u8]) -> FakeArgo {
        let closed_after = Arc::new(Mutex::new(Vec::new()));
        let record = closed_after.clone();
        let mut argo = FakeArgo::start(move |stream, _| {
            let received = Instant::now();
            let _ = stream.write_all(start);
            loop {
                thread::sleep(Duration::from_millis(50));
                if stream.write_all(piece).is_err() || peer_closed(stream) {
                    record.lock().unwrap().push(received.elapsed());
                    return After::Close;
                }
            }
        });
        argo.closed_after = closed_after;
        argo
    }

    fn wait_for_closes(&self, count: usize) -> Vec<Duration> {
        wait_until(Duration::from_secs(20), "the gateway to close", || {
            let closed = self.closed_after.lock().unwrap().clone();
            (closed.len() >= count).then_some(closed)
        })
    }
}

fn chat_request(stream: bool) -> String {
    json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

#[test]
fn endless_interim_answers_are_an_invalid_answer_and_the_connection_closes() {
    let argo = FakeArgo::start_trickling(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    );
    let (_gateway, port) = argo.gateway(&[("ARGO_BRIDGE_HEAD_TIMEOUT_MS", "3000")]);
    for stream in [false, true] {
        let error =
            post_as_alice(port, "/v1/chat/completions", &chat_request(stream)).expect_error(502);
        assert_eq!(error["code"], "upstream_invalid_answer", "stream {stream}");
    }
    let closed = argo.wait_for_closes(2);
    assert!(
        closed.iter().all(|after| *after < Duration::from_secs(10)),
        "{closed:?}"
    );
    assert_eq!(argo.requests(), 2);
}

#[test]
fn a_head_that_never_ends_times_out_with_504() {
    // One header whose value never ends: far from the head size limit within the test.
    let argo = FakeArgo::start_trickling(b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a");
    let (_gateway, port) = argo.gateway(&[("ARGO_BRIDGE_HEAD_TIMEOUT_MS", "800")]);
    for stream in [false, true] {
        let started = Instant::now();
        let error =
            post_as_alice(port, "/v1/chat/completions", &chat_request(stream)).expect_error(504);
        assert_eq!(error["code"], "upstream_head_timeout", "stream {stream}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let closed = argo.wait_for_closes(2);
    assert!(
        closed.iter().all(|after| *after < Duration::from_secs(10)),
        "{closed:?}"
    );
}

#[test]
fn a_retry_after_that_is_not_seconds_is_dropped() {
    let argo = FakeArgo::start(|stream, received| {
        let value: &[u8] = if received.body.contains("binary") {
            b"\xff\xfe"
        } else {
            b"Wed, 21 Oct 2015 07:28:00 GMT"
        };
        let head = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\nRetry-After: ";
        let _ = stream.write_all(&[head.as_slice(), value, b"\r\n\r\nbusy"].concat());
        After::KeepAlive
    });
    let (_gateway, port) = argo.gateway(&[]);
    for content in ["binary", "date"] {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]});
        let response = post_as_alice(port, "/v1/chat/completions", &body.to_string());
        response.expect_error(429);
        assert_eq!(response.header("retry-after"), None, "{content}");
    }
}

const MIB: usize = 1024 * 1024;

/// A chat answer of about `bytes` bytes.
fn chat_answer_of(bytes: usize) -> String {
    json_answer(
        200,
        &format!(r#"{{"response":"{}"}}"#, "a".repeat(bytes - 20)),
    )
}

#[test]
fn buffered_answers_over_the_global_budget_get_503_while_others_are_served() {
    let released = Arc::new(AtomicBool::new(false));
    let holding = Arc::new(AtomicBool::new(false));
    let (release, hold) = (released.clone(), holding.clone());
    let argo = FakeArgo::start(move |stream, received| {
        let content = received.body.as_str();
        if content.contains("hold") {
            // Half of a 3 MiB answer, the rest once the test says so.
            let answer = chat_answer_of(3 * MIB);
            let (first, rest) = answer.as_bytes().split_at(answer.len() / 2);
            let _ = stream.write_all(first);
            hold.store(true, Ordering::SeqCst);
            while !release.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = stream.write_all(rest);
        } else if content.contains("three") {
            let _ = stream.write_all(chat_answer_of(3 * MIB).as_bytes());
        } else if content.contains("eight") {
            let _ = stream.write_all(chat_answer_of(8 * MIB).as_bytes());
        } else {
            return answer_normally(stream, received);
        }
        After::KeepAlive
    });
    let budget = (4 * MIB).to_string();
    let (_gateway, port) = argo.gateway(&[("ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES", &budget)]);
    let ask = move |content: &str| {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]});
        post_as_alice(port, "/v1/chat/completions", &body.to_string())
    };
    let over_budget = |response: Response| {
        let start: String = response.text().chars().take(300).collect();
        assert_eq!(response.status, 503, "{start}");
        let error = response.expect_error(503);
        assert_eq!(error["code"], "upstream_answers_over_budget");
        assert_eq!(response.header("retry-after"), Some("1"));
    };

    over_budget(ask("eight"));
    let held = thread::spawn(move || ask("hold"));
    wait_until(Duration::from_secs(10), "the held answer", || {
        holding.load(Ordering::SeqCst).then_some(())
    });
    over_budget(ask("three"));
    assert_eq!(ask("small").status, 200);
    released.store(true, Ordering::SeqCst);
    let held = held.join().unwrap();
    assert_eq!(held.status, 200, "{}", held.text());
    assert_eq!(ask("three").status, 200, "the budget is free again");
}
