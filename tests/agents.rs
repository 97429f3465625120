//! The coding agents lab users run, end to end: Claude Code, Codex CLI, Gemini CLI, OpenCode and
//! Aider, at the versions `tests/agents/package.json` and `requirements.txt` pin (installed by
//! `.ci/install`), each run
//! headless through the gateway (its shipped configuration) in front of the mock Argo, on a GPT,
//! a Claude and a Gemini model.
//!
//! Each run is the README's recipe for that agent (the shell block after
//! `<!-- agent-recipe: NAME -->` in the Clients section, read from README.md, so the README
//! cannot drift from what is tested), in a fresh home and working directory. The prompt ends
//! with a mock directive, `write_file`: the mock model calls whichever file-writing tool the
//! agent declared (see mock-argo's `writes.rs`), the agent runs it, and once the tool's result
//! is in the conversation the mock answers `The tool said: ...`. A run passes when the agent
//! exits 0, the file holds the text, and that final answer is printed. Aider declares no tools:
//! it edits files from the model's text, so its mock model answers with an edit in Aider's
//! `whole` format (the one it uses for models it does not know) and the run passes when Aider
//! applied it.
//!
//! Nothing leaves the machine: the mock, the gateway and the agent run in a network namespace
//! of their own with only loopback (where `unshare --net` works, as root on CI), and the agents'
//! telemetry, update checks and model-catalogue downloads are switched off in any case.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Ports, Process, TempDir};

/// One model of each family Argo serves, by the names the gateway lists.
const MODELS: [&str; 3] = ["gpt-5.5", "claude-sonnet-4.6", "gemini-2.5-pro"];

/// How long one agent run may take (a run takes 2-6 s here; CI machines are slower and busy).
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Environment that keeps each agent's own traffic home: no telemetry, error reports, update
/// checks or downloads of model catalogues and plugins.
const QUIET: [(&str, &str); 12] = [
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
    ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
    ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
    ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
    ("GEMINI_TELEMETRY_ENABLED", "false"),
    ("AIDER_CHECK_UPDATE", "false"),
    ("AIDER_ANALYTICS_DISABLE", "true"),
    ("AIDER_SHOW_RELEASE_NOTES", "false"),
];

#[test]
fn claude_code_writes_a_file_on_every_model_family() {
    run_on_every_family("claude-code");
}

#[test]
fn codex_cli_writes_a_file_on_every_model_family() {
    run_on_every_family("codex");
}

#[test]
fn gemini_cli_writes_a_file_on_every_model_family() {
    run_on_every_family("gemini-cli");
}

#[test]
fn opencode_writes_a_file_on_every_model_family() {
    run_on_every_family("opencode");
}

#[test]
fn aider_writes_a_file_on_every_model_family() {
    run_on_every_family("aider");
}

#[test]
fn every_recipe_in_the_readme_is_one_this_suite_runs() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let named: Vec<&str> = readme
        .match_indices(RECIPE_MARK)
        .filter_map(|(at, _)| readme[at + RECIPE_MARK.len()..].split_once(" -->"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        named,
        ["claude-code", "codex", "gemini-cli", "opencode", "aider"]
    );
}

fn run_on_every_family(agent: &str) {
    let recipe = recipe(agent);
    let stack = AgentStack::start(agent);
    let failures: Vec<String> = MODELS
        .iter()
        .filter_map(|model| stack.run(agent, &recipe, model).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const RECIPE_MARK: &str = "<!-- agent-recipe: ";

/// The shell block that follows `<!-- agent-recipe: NAME -->` in the README.
fn recipe(agent: &str) -> String {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let mark = format!("{RECIPE_MARK}{agent} -->");
    let after = &readme[readme
        .find(&mark)
        .unwrap_or_else(|| panic!("no {mark} in README.md"))..];
    let start = after.find("```sh\n").expect("a ```sh block after the mark") + "```sh\n".len();
    let length = after[start..].find("```").expect("the block's end");
    after[start..start + length].to_string()
}

/// The directories `.ci/install` puts the agents in, checked before anything starts.
fn agents_bins() -> [PathBuf; 2] {
    let agents = common::repo_root().join("tests/agents");
    let bins = [
        agents.join("node_modules/.bin"),
        agents.join("aider-venv/bin"),
    ];
    for (bin, program) in bins.iter().zip(["codex", "aider"]) {
        assert!(
            bin.join(program).exists(),
            "the coding agents are not installed in {}: run `bash .ci/install`",
            bin.display()
        );
    }
    bins
}

/// A mock Argo and the gateway (its shipped configuration but for the Argo address), in a
/// network namespace of their own where one can be made.
struct AgentStack {
    namespace: Option<Namespace>,
    gateway_port: u16,
    _processes: [Process; 2],
    _scratch: TempDir,
}

impl AgentStack {
    fn start(agent: &str) -> AgentStack {
        let scratch = TempDir::new(&format!("agents-{agent}"));
        let namespace = Namespace::new();
        let mock_ports = scratch.path("mock.ports");
        let mut mock = Command::new(common::binary());
        mock.args(["mock-argo", "--listen", "127.0.0.1:0", "--ports-file"])
            .arg(&mock_ports)
            .env("RUST_LOG", "warn");
        let (mock, ports) = spawn(&namespace, &mock, &mock_ports);
        let mut gateway = common::gateway_command(&common::argo_base(ports.listen()), &[]);
        gateway.env_remove("ARGO_BRIDGE_UPSTREAM_API");
        let gateway_ports = scratch.path("gateway.ports");
        gateway.env("ARGO_BRIDGE_PORTS_FILE", &gateway_ports);
        let (gateway, ports) = spawn(&namespace, &gateway, &gateway_ports);
        AgentStack {
            namespace,
            gateway_port: ports.listen(),
            _processes: [mock, gateway],
            _scratch: scratch,
        }
    }

    /// Runs `recipe` for `model` in a fresh home; a description of what went wrong, if anything.
    fn run(&self, agent: &str, recipe: &str, model: &str) -> Result<(), String> {
        let scratch = TempDir::new(&format!("agent-{agent}-{model}"));
        let (home, work) = (scratch.path("home"), scratch.path("work"));
        for dir in [&home, &work] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let file = work.join("hello.txt");
        let text = format!("written by {agent} through argo-bridge on {model}\n");
        let (directive, done) = match agent {
            "aider" => (
                serde_json::json!({"reply": format!("hello.txt\n```\n{text}```\n")}),
                "Applied edit to hello.txt",
            ),
            _ => (
                serde_json::json!({"write_file": {"path": file, "content": text}}),
                "The tool said",
            ),
        };
        let prompt = format!("Create hello.txt. #mock {directive}");
        let mut command = Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", recipe])
            .current_dir(&work)
            .env("PATH", search_path())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env(
                "ARGO_BRIDGE_URL",
                format!("http://127.0.0.1:{}", self.gateway_port),
            )
            .env("ARGO_BRIDGE_TOKEN", common::TOKEN)
            .env("MODEL", model)
            .env("PROMPT", &prompt)
            .envs(QUIET);
        let ran = run_bounded(wrap(&self.namespace, &command, true), RUN_LIMIT);
        let written = std::fs::read_to_string(&file).unwrap_or_default();
        match ran {
            Ok(out) if out.success && written == text && out.stdout.contains(done) => {
                Ok(())
            }
            Ok(out) => Err(format!(
                "{agent} on {model}: exit ok {}, file {:?} (wanted {text:?})\n--- stdout\n{}\n--- stderr\n{}",
                out.success,
                written,
                tail(&out.stdout),
                tail(&out.stderr)
            )),
            Err(why) => Err(format!("{agent} on {model}: {why}")),
        }
    }
}

fn search_path() -> String {
    let system = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let [node, aider] = agents_bins();
    format!("{}:{}:{system}", node.display(), aider.display())
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end or `limit`, whichever is first (then kills it and says so).
fn run_bounded(mut command: Command, limit: Duration) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if Instant::now() > deadline {
            kill(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => Ok(Output {
            success: status.success(),
            stdout,
            stderr,
        }),
        None => Err(format!(
            "still running after {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
            tail(&stdout),
            tail(&stderr)
        )),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A network namespace with only loopback, held open by a sleeping process; the processes of
/// an [`AgentStack`] join it with `nsenter`.
struct Namespace(Process);

impl Namespace {
    /// `None` where this machine cannot make one (not root, no user namespaces): the runs then
    /// rely on [`QUIET`] alone.
    fn new() -> Option<Namespace> {
        let mut holder = Command::new("unshare")
            .args(["--net", "--", "sh", "-c"])
            .arg("ip link set lo up && echo up && exec sleep 3600")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let _ = BufReader::new(holder.stdout.take()?).read_line(&mut line);
        let holder = Process::from_child(holder);
        if line.trim() != "up" {
            eprintln!("no network namespace here (unshare --net failed): running with the agents' own switches only");
            return None;
        }
        Some(Namespace(holder))
    }

    fn path(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.0.id())
    }
}

/// `command` run inside `namespace` (as it is where there is none), with only the variables
/// it sets when `only_its_variables` (no API key or setting of this machine's user leaks in).
fn wrap(namespace: &Option<Namespace>, command: &Command, only_its_variables: bool) -> Command {
    let mut wrapped = match namespace {
        Some(namespace) => {
            let mut nsenter = Command::new("nsenter");
            nsenter
                .arg(namespace.path())
                .arg("--")
                .arg(command.get_program());
            nsenter
        }
        None => Command::new(command.get_program()),
    };
    if only_its_variables {
        wrapped.env_clear();
    }
    wrapped.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// Starts a server of ours in `namespace` and waits for the ports it reports in `file`.
fn spawn(namespace: &Option<Namespace>, command: &Command, file: &Path) -> (Process, Ports) {
    let mut wrapped = wrap(namespace, command, false);
    wrapped.stdout(Stdio::null()).stderr(Stdio::null());
    common::spawn_reporting(&mut wrapped, file)
}
