//! Black-box harness: runs the real `argo-bridge` binary and its mock Argo on loopback ports and
//! talks to them over raw sockets.

#![allow(
    dead_code,
    reason = "each test crate uses some of these helpers, none uses all"
)]

pub mod postgres;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-alice";
pub const USER: &str = "alice";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_argo-bridge")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free port for a third-party server that cannot bind port 0 and report it (nginx, Redis,
/// Prometheus): start it with [`start_on_free_port`], which checks that the process itself
/// listens there and tries another port when it does not.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// A loopback port where nothing listens and nothing else can: connections to it are refused
/// for as long as this is held.
pub struct ClosedPort(listen_port::Reservation);

impl ClosedPort {
    pub fn new() -> ClosedPort {
        ClosedPort(listen_port::Reservation::new("127.0.0.1:0").expect("reserve a port"))
    }

    pub fn port(&self) -> u16 {
        self.0.address().port()
    }
}

/// The addresses a server of ours wrote to its ports file once it listened, by label
/// (`listen`, `admin`, `mock`).
pub struct Ports(Vec<(String, u16)>);

impl Ports {
    pub fn port(&self, label: &str) -> u16 {
        self.0
            .iter()
            .find(|(name, _)| name == label)
            .map(|(_, port)| *port)
            .unwrap_or_else(|| panic!("no `{label}` in the ports file"))
    }

    pub fn listen(&self) -> u16 {
        self.port("listen")
    }

    pub fn admin(&self) -> u16 {
        self.port("admin")
    }
}

/// A fresh path for a ports file, in the temporary directory.
fn ports_file_path() -> PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("argo-bridge-ports-{}-{count}", std::process::id()))
}

/// Starts a server of ours (gateway or mock) whose `command` writes its ports to `file`, and
/// waits for that file: the ports it names are the ones this very process listens on. Fails
/// when the process exits first (a port it could not bind, say).
pub fn spawn_reporting(command: &mut Command, file: &Path) -> (Process, Ports) {
    let _ = std::fs::remove_file(file);
    let mut process = Process::spawn(command);
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            break text;
        }
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("{command:?} exited with {status} before it listened");
        }
        assert!(
            Instant::now() < deadline,
            "{command:?} did not listen in 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(file);
    let ports = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(label, address)| {
            let address: std::net::SocketAddr = address.parse().expect("an address");
            (label.to_string(), address.port())
        })
        .collect();
    (process, Ports(ports))
}

/// Starts a third-party server on a free port (`start` builds its command for a port) and
/// waits until that very process listens there: another test's server answering on the port
/// does not count. A server that could not bind (the port was taken meanwhile) is started again
/// on another port.
pub fn start_on_free_port(mut start: impl FnMut(u16) -> Command) -> (Process, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut process = Process::spawn(&mut start(port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if process_listens_on(process.id(), port) {
                return (process, port);
            }
            if matches!(process.0.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free port on which the server would start, in five tries");
}

/// Whether process `pid` holds a socket listening on `port` (its descriptors' socket inodes
/// against Linux's table of listening sockets).
fn process_listens_on(pid: u32, port: u16) -> bool {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        text.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listens_on_port = fields
                .get(1)
                .and_then(|local| local.rsplit_once(':'))
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
                == Some(port)
                && fields.get(3) == Some(&"0A");
            listens_on_port
                && fields
                    .get(9)
                    .is_some_and(|inode| inodes.iter().any(|i| i == inode))
        })
    })
}

/// A child process killed on drop.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    pub fn spawn(command: &mut Command) -> Process {
        Process(command.spawn().expect("start child process"))
    }

    pub fn from_child(child: Child) -> Process {
        Process(child)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// The child's stderr, when it was piped.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.0.stderr.take()
    }

    /// Sends a signal by name (`TERM`, `QUIT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Polls `check` until it returns `Some`, failing with `what` after `limit`.
pub fn wait_until<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CPU seconds the process has used so far (user + system), from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "argo-bridge-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finds a system tool that `.ci/install` provides, also in the sbin directories.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: run `bash .ci/install`"))
}

pub fn wait_for_port(port: u16) {
    wait_for_address("127.0.0.1", port);
}

/// Waits until something listens on `ip`:`port` (127.0.0.2 and the like are loopback too).
pub fn wait_for_address(ip: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listening(ip, port) {
        assert!(
            Instant::now() < deadline,
            "nothing listening on {ip} port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a server listens on `ip`:`port`. A connect to a free port of the ephemeral range
/// can succeed by connecting the socket to itself (TCP simultaneous open, when the kernel
/// picks that very port as the source), which must not pass for the server.
fn listening(ip: &str, port: u16) -> bool {
    TcpStream::connect((ip, port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// A mock Argo on a port of its own.
pub fn start_mock(extra: &[&str]) -> (Process, u16) {
    start_mock_at("127.0.0.1", 0, extra)
}

/// A mock Argo on a given port, for example to restart one where the gateway expects it.
pub fn start_mock_on(port: u16, extra: &[&str]) -> Process {
    start_mock_at("127.0.0.1", port, extra).0
}

/// A mock Argo on `ip`:`port` (port 0: a free one), and the port it listens on.
pub fn start_mock_at(ip: &str, port: u16, extra: &[&str]) -> (Process, u16) {
    let listen = format!("{ip}:{port}");
    let file = ports_file_path();
    let mut command = Command::new(binary());
    command
        .args(["mock-argo", "--listen", &listen])
        .arg("--ports-file")
        .arg(&file)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (process, ports) = spawn_reporting(&mut command, &file);
    (process, ports.listen())
}

/// The gateway with every Argo environment pointed at `argo_base`.
pub fn start_gateway(argo_base: &str, env: &[(&str, &str)]) -> (Process, u16) {
    let (process, ports) = spawn_gateway(&mut gateway_command(argo_base, env));
    (process, ports.listen())
}

/// Changes the mock's model list (`POST /__mock/models`: `{"add": [...]}`, `{"remove":
/// [...]}`, `{"fail": true}`), asserting that the mock took the change.
pub fn change_mock_models(mock_port: u16, change: &serde_json::Value) {
    let answer = request(
        mock_port,
        "POST",
        "/argoapi/__mock/models",
        &[],
        change.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
}

/// `POST /models/refresh` on the gateway's admin port with its admin token: the answer's JSON.
pub fn refresh_models(admin: u16, admin_token: &str) -> serde_json::Value {
    let authorization = format!("Bearer {admin_token}");
    request(
        admin,
        "POST",
        "/models/refresh",
        &[("Authorization", &authorization)],
        b"",
    )
    .json()
}

/// The gateway with an admin listener too: its process, API port and admin port.
pub fn start_gateway_with_admin(argo_base: &str, env: &[(&str, &str)]) -> (Process, u16, u16) {
    let mut command = gateway_command(argo_base, env);
    command.env("ARGO_BRIDGE_ADMIN_LISTEN", "127.0.0.1:0");
    let (process, ports) = spawn_gateway(&mut command);
    (process, ports.listen(), ports.admin())
}

/// Starts a gateway `command` (from [`gateway_command`]) and waits until it listens on every
/// port it was given (`listen`, and `admin` when `ARGO_BRIDGE_ADMIN_LISTEN` is set).
pub fn spawn_gateway(command: &mut Command) -> (Process, Ports) {
    let file = ports_file_path();
    spawn_reporting(command.env("ARGO_BRIDGE_PORTS_FILE", &file), &file)
}

/// The gateway's command line, listening on a free port (`spawn_gateway` says which), logging
/// nowhere (see `log_to`).
pub fn gateway_command(argo_base: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .current_dir(repo_root())
        .env("ARGO_BRIDGE_LISTEN", "127.0.0.1:0")
        .env("ARGO_BRIDGE_THREADS", "2")
        .env(
            "ARGO_BRIDGE_TOKENS",
            format!("{TOKEN}={USER},test-token-bob=bob"),
        )
        .env("RUST_LOG", "warn")
        // These suites were written for Argo's resource API and check its wire details; the
        // native API (the shipped default) has its own (`native.rs`), and the SDK suites run
        // against both. A test may set ARGO_BRIDGE_UPSTREAM_API itself.
        .env("ARGO_BRIDGE_UPSTREAM_API", "resource")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for name in ["PROD", "DEV", "TEST"] {
        command.env(format!("ARGO_BRIDGE_ARGO_{name}_URL"), argo_base);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Sends the command's stderr (where the logs go) to a file.
pub fn log_to(command: &mut Command, path: &Path) {
    let file = std::fs::File::create(path).expect("create log file");
    command.stderr(Stdio::from(file));
}

/// The API base URL of a mock Argo on `port`.
pub fn argo_base(port: u16) -> String {
    format!("http://127.0.0.1:{port}/argoapi")
}

/// Mock Argo plus gateway in front of it.
pub struct Stack {
    pub gateway_port: u16,
    pub mock_port: u16,
    _gateway: Process,
    _mock: Process,
}

impl Stack {
    pub fn start() -> Stack {
        Self::start_with(&[], &[])
    }

    pub fn start_with(mock_args: &[&str], gateway_env: &[(&str, &str)]) -> Stack {
        let (mock, mock_port) = start_mock(mock_args);
        let (gateway, gateway_port) = start_gateway(
            &format!("http://127.0.0.1:{mock_port}/argoapi"),
            gateway_env,
        );
        Stack {
            gateway_port,
            mock_port,
            _gateway: gateway,
            _mock: mock,
        }
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        post_as_alice(self.gateway_port, path, body)
    }

    pub fn get(&self, path: &str) -> Response {
        request(
            self.gateway_port,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        )
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an OpenAI error envelope with `status` and returns its `error` object.
    pub fn expect_error(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let json = self.json();
        let error = json["error"].clone();
        for field in ["message", "type", "param", "code"] {
            assert!(error.get(field).is_some(), "error lacks `{field}`: {json}");
        }
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        error
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), response read whole and
/// de-chunked.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    request_at("127.0.0.1", port, method, path, headers, body)
}

/// [`request`] to a server on another loopback address.
pub fn request_at(
    ip: &str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect((ip, port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // One write: head and body in two would meet Nagle's algorithm and delayed ACKs.
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    let _ = stream.set_nodelay(true);
    let _ = stream.write_all(&message);
    read_response(&mut BufReader::new(stream))
}

pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    (status, headers)
}

pub fn read_response(reader: &mut impl BufRead) -> Response {
    let (status, headers) = read_head(reader);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        while let Some(chunk) = read_chunk(reader) {
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body).expect("body");
    } else {
        let _ = reader.read_to_end(&mut body);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// One chunk of a chunked body; `None` at the terminating chunk or a cut connection.
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

/// A chat request body whose last user message carries a mock directive.
pub fn chat_with_directive(model: &str, directive: &str) -> String {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("test #mock {directive}")}],
    })
    .to_string()
}

/// Client threads sending chat requests, one connection each, until stopped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Result<u16, String>>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    pub fn start(port: u16, threads: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|_| {
                let (stop, outcomes) = (stop.clone(), outcomes.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let outcome = send_one(port);
                        outcomes.lock().unwrap().push(outcome);
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            outcomes,
            threads,
        }
    }

    pub fn count(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    pub fn wait_for_more(&self, more: usize) {
        let target = self.count() + more;
        wait_until(Duration::from_secs(15), "more traffic", || {
            (self.count() >= target).then_some(())
        });
    }

    pub fn finish(self) -> Vec<Result<u16, String>> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().unwrap();
        }
        Arc::try_unwrap(self.outcomes)
            .map(|outcomes| outcomes.into_inner().unwrap())
            .unwrap_or_default()
    }
}

/// One request; `Err` for anything but a complete response.
pub fn send_one(port: u16) -> Result<u16, String> {
    let outcome = std::panic::catch_unwind(|| {
        let response = request(
            port,
            "POST",
            "/v1/chat/completions",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            chat_with_directive("gpt-4o", r#"{"delay_ms":20}"#).as_bytes(),
        );
        let object = serde_json::from_slice::<serde_json::Value>(&response.body)
            .map(|json| json["object"].clone())
            .unwrap_or_default();
        (response.status, object)
    });
    match outcome {
        Ok((200, object)) if object == "chat.completion" => Ok(200),
        Ok((status, _)) => Err(format!("status {status}")),
        Err(_) => Err("connection failed".into()),
    }
}

/// `deploy/nginx.conf` with the compose service names and port replaced by loopback ports.
pub fn nginx_conf_on_loopback(replicas: &[u16], listen: u16) -> String {
    let shipped = std::fs::read_to_string(repo_root().join("deploy/nginx.conf")).unwrap();
    let mut conf = shipped.replace("listen 8080;", &format!("listen 127.0.0.1:{listen};"));
    for (index, port) in replicas.iter().enumerate() {
        let name = format!("gateway-{}:8080", index + 1);
        assert!(conf.contains(&name), "deploy/nginx.conf lacks {name}");
        conf = conf.replace(&name, &format!("127.0.0.1:{port}"));
    }
    assert!(
        !conf.contains("gateway-"),
        "more replicas in deploy/nginx.conf than started"
    );
    conf
}

/// The gateway's metrics once they contain `needle`. Requests are counted after their response
/// is finished, so a scrape right after a response may not see it yet.
pub fn metrics_containing(port: u16, needle: &str) -> String {
    wait_until(Duration::from_secs(5), needle, || {
        let metrics = request(port, "GET", "/metrics", &[], b"").text();
        metrics.contains(needle).then_some(metrics)
    })
}

/// A POST as the test user to a gateway on `port`.
pub fn post_as_alice(port: u16, path: &str, body: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    request(
        port,
        "POST",
        path,
        &[("Authorization", &auth)],
        body.as_bytes(),
    )
}

/// The smallest chat request, as the test user.
pub fn post_hello(port: u16) -> Response {
    let body =
        serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    post_as_alice(port, "/v1/chat/completions", &body.to_string())
}

/// The request Argo received, from the answer to a chat whose directive is
/// `#mock {"echo_request": true}`.
pub fn echoed_argo_request(response: &Response) -> serde_json::Value {
    assert_eq!(response.status, 200, "{}", response.text());
    let echoed = response.json()["choices"][0]["message"]["content"]
        .as_str()
        .expect("the answer carries the echoed request")
        .to_string();
    serde_json::from_str(&echoed).expect("the echoed request is JSON")
}

/// A mock Argo and a gateway in front of it whose log (at `rust_log`) goes to a file.
pub struct LoggedGateway {
    pub port: u16,
    pub log: PathBuf,
    _gateway: Process,
    _mock: Process,
    _dir: TempDir,
}

impl LoggedGateway {
    pub fn start(label: &str, rust_log: &str) -> LoggedGateway {
        let (mock, mock_port) = start_mock(&[]);
        let dir = TempDir::new(label);
        let log = dir.path("gateway.log");
        let mut command = gateway_command(&argo_base(mock_port), &[]);
        command.env("RUST_LOG", rust_log);
        log_to(&mut command, &log);
        let (gateway, ports) = spawn_gateway(&mut command);
        LoggedGateway {
            port: ports.listen(),
            log,
            _gateway: gateway,
            _mock: mock,
            _dir: dir,
        }
    }
}

/// The events of an SSE body: each one's name (empty when it has none) and its data as JSON.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|line| line.strip_prefix("event: "))
                .unwrap_or_default();
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("no data in {event:?}"));
            let data = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
            (name.to_string(), data)
        })
        .collect()
}
