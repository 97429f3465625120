//! `deploy/Dockerfile` builds. Docker cannot run here, so this does what its build stage does
//! without it: a clean directory gets exactly the files that stage's `COPY` lines name (read
//! from the Dockerfile, so a crate it forgets fails here), then cargo loads the workspace and the
//! stage's own `RUN cargo ...` command runs there, offline, in this test's target directory.
//! Cargo names a workspace's own crates by their path within the workspace, so the staged crates
//! are the repository's, and the copies keep their files' times: the build reuses what is
//! already compiled for the same features and is fresh in a second. Where the image's features
//! differ from the build that ran the tests (`cargo test --workspace` unifies the features of
//! every member and their dev-dependencies), the first run compiles those crates once more.
//!
//! In its own test binary: the staged build re-links `target/release/argo-bridge`, which the
//! other tests of one binary would be running meanwhile. The image's gateway is built without
//! the mock (`--no-default-features`), so the binaries the repository's build made are put back
//! when the test ends, for the test binaries that run after this one.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One instruction of a Dockerfile: keyword and arguments, continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comment and empty lines, also between continued lines.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((keyword.to_ascii_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    out
}

/// A build stage: its name and its instructions after `FROM`.
struct Stage {
    name: String,
    body: Vec<(String, String)>,
}

fn stages(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for (keyword, args) in instructions(text) {
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => stages.len().to_string(),
            };
            stages.push(Stage {
                name,
                body: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.body.push((keyword, args));
        }
    }
    stages
}

/// `COPY` arguments without its `--flags`: sources, then the destination. Both the shell form
/// and the JSON form.
fn copy_arguments(args: &str) -> Vec<String> {
    let words: Vec<String> = if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("COPY {args}: {e}"))
    } else {
        args.split_whitespace().map(String::from).collect()
    };
    words.into_iter().filter(|w| !w.starts_with("--")).collect()
}

/// What `COPY source dest` puts where, relative to the stage's WORKDIR: a directory's
/// contents go into `dest`; a file goes to `dest`, or into it when it ends with `/` or more
/// than one source is named.
fn stage_copy(context: &Path, root: &Path, workdir: &str, args: &str) {
    let arguments = copy_arguments(args);
    let (named, sources) = arguments.split_last().expect("COPY names a destination");
    assert!(!sources.is_empty(), "COPY {args}: no source");
    let dest = resolve(workdir, named)
        .unwrap_or_else(|| panic!("COPY {args}: goes outside WORKDIR {workdir}"));
    let into_dir = dest.as_os_str().is_empty() || named.ends_with('/') || sources.len() > 1;
    for source in sources {
        assert!(
            !source.contains(['*', '?', '[']),
            "COPY {args}: wildcards are not staged by this test"
        );
        let from = context.join(source);
        assert!(from.exists(), "COPY {source}: not in the repository");
        if from.is_dir() {
            copy_dir(&from, &root.join(&dest));
        } else {
            let to = match into_dir {
                true => root.join(&dest).join(from.file_name().unwrap()),
                false => root.join(&dest),
            };
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            copy_file(&from, &to);
        }
    }
}

/// `dest` relative to the stage's WORKDIR, when it lies inside it.
fn resolve(workdir: &str, dest: &str) -> Option<PathBuf> {
    let absolute = match dest.starts_with('/') {
        true => PathBuf::from(dest),
        false => Path::new(workdir).join(dest),
    };
    let mut parts = Vec::new();
    for part in absolute.components() {
        match part {
            std::path::Component::Normal(name) => parts.push(name.to_owned()),
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    let workdir_parts: Vec<_> = Path::new(workdir)
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(name) => Some(name.to_owned()),
            _ => None,
        })
        .collect();
    if !parts.starts_with(&workdir_parts) {
        return None;
    }
    Some(parts[workdir_parts.len()..].iter().collect())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            copy_file(&entry.path(), &target);
        }
    }
}

/// A copy with the original's modification time, so that cargo sees unchanged sources.
fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    let modified = std::fs::metadata(from).and_then(|m| m.modified()).unwrap();
    let file = std::fs::File::options().write(true).open(to).unwrap();
    file.set_modified(modified).unwrap();
}

/// The target directory cargo built this test into (`<target>/release/argo-bridge`).
fn target_dir() -> PathBuf {
    Path::new(binary())
        .parent()
        .and_then(Path::parent)
        .expect("the binary lies in <target>/<profile>/")
        .to_path_buf()
}

/// Runs a shell command in `dir` with this test's target directory, offline, failing the test
/// with its output.
fn run_in(dir: &Path, command: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cargo_bin = Path::new(&cargo).parent().map(Path::to_path_buf);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(cargo_bin.into_iter().chain(std::env::split_paths(&path))).unwrap();
    let log = dir.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let mut shell = Command::new("sh");
    // What cargo set for this test process describes this package, not the staged one, and
    // build scripts that watch such variables (ring watches CARGO_MANIFEST_DIR) would otherwise
    // be rerun, with all that depends on them, by this build and again by the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_CFG_",
            "CARGO_FEATURE_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if set_by_cargo_test {
            shell.env_remove(name.as_ref());
        }
    }
    let mut child = shell
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    // In a fresh target directory the image's feature set may need compiling: give it time.
    let deadline = Instant::now() + Duration::from_secs(40 * 60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{command}` did not finish in 40 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        status.success(),
        "`{command}` failed in the staged build context:\n{output}"
    );
}

#[test]
fn the_dockerfile_builds_from_exactly_what_it_copies() {
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/Dockerfile")).unwrap();
    let stages = stages(&dockerfile);
    let builds: Vec<&Stage> = stages
        .iter()
        .filter(|stage| {
            stage
                .body
                .iter()
                .any(|(keyword, args)| keyword == "RUN" && args.contains("cargo "))
        })
        .collect();
    assert_eq!(builds.len(), 1, "one build stage runs cargo");
    let builder = builds[0];

    let root = target_dir().join("dockerfile-context");
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    std::fs::create_dir_all(&root).unwrap();
    let _staged = Staged(root.clone());
    let mut workdir = "/".to_string();
    let mut cargo_runs = Vec::new();
    for (keyword, args) in &builder.body {
        match keyword.as_str() {
            "WORKDIR" => workdir = args.clone(),
            "COPY" if args.contains("--from") => panic!("the build stage copies from a stage"),
            "COPY" | "ADD" => stage_copy(&repo_root(), &root, &workdir, args),
            "RUN" if args.contains("cargo ") => cargo_runs.push(args.clone()),
            _ => {}
        }
    }
    assert!(
        cargo_runs.iter().any(|run| run.contains("cargo build")
            && run.contains("--release")
            && run.contains("--locked")),
        "the image is built with `cargo build --release --locked`: {cargo_runs:?}"
    );

    // The binaries the image takes from the build, which the staged build replaces.
    let built: Vec<PathBuf> = stages
        .iter()
        .filter(|stage| stage.name != builder.name)
        .flat_map(|stage| stage.body.iter())
        .filter(|(keyword, args)| {
            keyword == "COPY" && args.contains(&format!("--from={}", builder.name))
        })
        .filter_map(|(_, args)| {
            let source = copy_arguments(args).into_iter().next()?;
            let within =
                source.strip_prefix(&format!("{}/target/", workdir.trim_end_matches('/')))?;
            Some(target_dir().join(within))
        })
        .collect();
    let _restored = Restored::save(&built);

    // Cargo must be able to load the workspace from the staged files alone. Without `--no-deps`
    // metadata resolves every platform's dependencies (`anstyle-wincon`, say), which no Linux
    // build ever downloaded: offline it then fails on any machine whose registry cache has only
    // what this machine built. The build below needs only what it compiles.
    run_in(
        &root,
        "cargo metadata --format-version 1 --no-deps --offline > /dev/null",
    );
    for run in &cargo_runs {
        run_in(&root, run);
    }

    // The final stage takes the binary from where the build put it.
    let workdir = workdir.trim_end_matches('/');
    for stage in stages.iter().filter(|stage| stage.name != builder.name) {
        for (keyword, args) in &stage.body {
            let from = format!("--from={}", builder.name);
            if keyword != "COPY" || !args.contains(&from) {
                continue;
            }
            let arguments = copy_arguments(args);
            let source = &arguments[0];
            let built = source
                .strip_prefix(&format!("{workdir}/target/"))
                .unwrap_or_else(|| panic!("COPY {args}: not from {workdir}/target"));
            let path = target_dir().join(built);
            assert!(path.is_file(), "COPY {args}: the build made no {built}");
            let status = Command::new(&path).arg("--help").output().unwrap().status;
            assert!(status.success(), "{} --help", path.display());
        }
    }

    // The image (the last stage, what `docker build` makes by default) is the gateway without
    // its test double: the mock's subcommands are refused, not served.
    let image = stages.last().expect("a final stage");
    let gateway = image
        .body
        .iter()
        .filter(|(keyword, args)| keyword == "COPY" && args.contains("--from="))
        .filter_map(|(_, args)| copy_arguments(args).into_iter().next())
        .find(|source| source.ends_with("/argo-bridge"))
        .expect("the final stage copies the argo-bridge binary");
    let gateway = target_dir().join(
        gateway
            .strip_prefix(&format!("{workdir}/target/"))
            .expect("from the build's target directory"),
    );
    for command in [
        vec!["mock-argo", "--listen", "127.0.0.1:0"],
        vec!["demo", "--port", "0", "--mock-port", "0"],
    ] {
        let (status, stderr) = run_briefly(&gateway, &command);
        assert_eq!(
            status,
            Some(2),
            "the image's `argo-bridge {}` is refused: {stderr}",
            command[0]
        );
        assert!(
            stderr.contains("leaves out") && stderr.contains("feature `mock`"),
            "{stderr}"
        );
    }
}

/// Runs `binary args`, killing it after ten seconds: its exit code (None when it was killed)
/// and what it wrote to stderr.
fn run_briefly(binary: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status, stderr)
}

/// The repository build's binaries, saved before the staged build replaces them and put back
/// when the test ends, however it ends: the test binaries after this one run the repository's
/// `argo-bridge`, with the mock, not the image's.
struct Restored(Vec<(PathBuf, PathBuf)>);

impl Restored {
    fn save(binaries: &[PathBuf]) -> Self {
        let mut saved = Vec::new();
        for binary in binaries.iter().filter(|binary| binary.is_file()) {
            let copy = binary.with_extension("before-dockerfile");
            copy_file(binary, &copy);
            saved.push((copy, binary.clone()));
        }
        Restored(saved)
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        for (copy, binary) in &self.0 {
            // A rename replaces the directory entry, never the file cargo may have hard-linked.
            if let Err(e) = std::fs::rename(copy, binary) {
                eprintln!("cannot put {} back: {e}", binary.display());
            }
        }
    }
}

/// The staged sources, removed when the test ends however it ends. The staged build leaves
/// cargo's fingerprints naming these copies; once they are gone, the next build in the
/// repository sees its own sources again (while they lay here unchanged, cargo took every
/// later edit of the repository's crates for fresh).
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_dockerfile_reader_follows_copy_semantics() {
    let text = "# c\nFROM rust:1 AS builder\nWORKDIR /src\nCOPY a b ./\nRUN cargo build \\\n  # note\n  --release\nFROM debian\nCOPY --from=builder /src/target/release/x /usr/bin/x\n";
    let stages = stages(text);
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name, "builder");
    assert_eq!(
        stages[0].body,
        vec![
            ("WORKDIR".to_string(), "/src".to_string()),
            ("COPY".to_string(), "a b ./".to_string()),
            ("RUN".to_string(), "cargo build  --release".to_string()),
        ]
    );
    assert_eq!(copy_arguments(r#"["a", "b c", "d/"]"#), ["a", "b c", "d/"]);
    assert_eq!(copy_arguments("--chown=1:1 a b"), ["a", "b"]);
    assert_eq!(resolve("/src", "./"), Some(PathBuf::new()));
    assert_eq!(
        resolve("/src", "bench/src"),
        Some(PathBuf::from("bench/src"))
    );
    assert_eq!(resolve("/src", "/src/x/../y"), Some(PathBuf::from("y")));
    assert_eq!(resolve("/src", "/etc"), None);
}
