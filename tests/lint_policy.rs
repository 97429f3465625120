//! The lint policy stays in force: the workspace's lints (no `unsafe`, no `unwrap` or `expect`
//! outside tests, `#[expect]` instead of `#[allow]`) apply to every crate of the workspace,
//! tests are exempt only from unwrap and expect, and CI runs clippy over everything, warnings
//! as errors, before the tests. Clippy itself finds the code that breaks the policy; this finds
//! a crate, a setting or a CI step that would quietly take it out of force.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `key = value` lines of one `[section]` of a TOML file, values as written.
fn section(toml: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    toml.lines()
        .map(str::trim)
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn members(root: &str) -> Vec<String> {
    let line = root
        .lines()
        .find_map(|line| line.trim().strip_prefix("members = "))
        .expect("the workspace lists its members");
    serde_json::from_str(line).expect("members as a one-line list")
}

#[test]
fn the_workspace_lints_are_the_policy() {
    let root = read("Cargo.toml");
    let pairs = |name| -> Vec<(String, String)> { section(&root, name) };
    let quoted = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), format!("\"{value}\"")))
            .collect()
    };
    assert_eq!(
        pairs("workspace.lints.rust"),
        quoted(&[("unsafe_code", "forbid")])
    );
    assert_eq!(
        pairs("workspace.lints.clippy"),
        quoted(&[
            ("unwrap_used", "deny"),
            ("expect_used", "deny"),
            ("allow_attributes", "deny"),
        ])
    );
}

#[test]
fn every_crate_of_the_workspace_takes_the_workspace_lints() {
    let root = read("Cargo.toml");
    let mut manifests = vec!["Cargo.toml".to_string()];
    manifests.extend(
        members(&root)
            .iter()
            .map(|member| format!("{member}/Cargo.toml")),
    );
    assert!(manifests.len() >= 4, "{manifests:?}");
    for manifest in manifests {
        assert_eq!(
            section(&read(&manifest), "lints"),
            [("workspace".to_string(), "true".to_string())],
            "{manifest} has `[lints] workspace = true`"
        );
    }
}

#[test]
fn tests_may_unwrap_and_expect_and_nothing_more() {
    let settings: Vec<String> = read("clippy.toml")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        settings,
        [
            "allow-unwrap-in-tests = true",
            "allow-expect-in-tests = true"
        ]
    );
}

#[test]
fn ci_runs_clippy_as_errors_before_the_readmes_test_command() {
    let run = read(".ci/run");
    let readme = read("README.md");
    let test_command = readme
        .lines()
        .find_map(|line| {
            let command = line.split('#').next()?.trim();
            command.contains("cargo test").then(|| command.to_string())
        })
        .expect("the README's test command");
    let lines: Vec<&str> = run.lines().map(str::trim).collect();
    let clippy = lines
        .iter()
        .position(|line| {
            line.contains("cargo clippy --workspace --all-targets")
                && line.ends_with("-- -D warnings")
        })
        .expect(".ci/run runs clippy over every crate and target with -D warnings");
    let tests = lines
        .iter()
        .position(|line| *line == test_command)
        .unwrap_or_else(|| panic!(".ci/run runs `{test_command}`"));
    assert!(clippy < tests, "clippy runs before the tests");
    assert!(run.contains("set -euo pipefail"), "a failed step fails CI");
}

/// `.ci/import_cycles.py` over `dirs` (relative to the repository): its exit code and output.
fn import_cycles(dirs: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new("python3")
        .arg(repo_root().join(".ci/import_cycles.py"))
        .args(dirs)
        .current_dir(repo_root())
        .output()
        .expect("python3 runs .ci/import_cycles.py");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

#[test]
fn the_crates_modules_import_each_other_in_no_circle() {
    let (code, output) = import_cycles(&["src", "filters/src", "mock-argo/src"]);
    assert_eq!(code, Some(0), "{output}");
}

#[test]
fn the_import_checker_finds_a_circle_through_a_folder() {
    let dir = std::env::temp_dir().join(format!("import-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/front")).unwrap();
    let files = [
        ("src/main.rs", "mod back;\nmod front;\n"),
        ("src/back.rs", "use crate::front::door::Door;\n"),
        ("src/front/mod.rs", "pub mod door;\n"),
        (
            "src/front/door.rs",
            "// crate::back in a comment is no import\npub fn f() { crate::back::g() }\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    let src = dir.join("src");
    let (code, output) = import_cycles(&[src.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("circle between files: back, front::door"),
        "{output}"
    );
    assert!(
        output.contains("circle between folders: back, front"),
        "{output}"
    );
    // The comment alone is no edge: with the call gone, no circle is left.
    std::fs::write(
        dir.join("src/front/door.rs"),
        "// crate::back in a comment is no import\n",
    )
    .unwrap();
    let (code, output) = import_cycles(&[src.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{output}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_folder_of_the_gateway_says_what_lives_there_and_who_may_import_it() {
    let src = repo_root().join("src");
    let mut folders = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        folders += 1;
        let text = std::fs::read_to_string(path.join("mod.rs")).unwrap();
        let opening: String = text
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            opening.contains("import"),
            "{}: the opening `//!` comment says what may import the folder",
            path.display()
        );
    }
    assert!(folders >= 6, "src/ is grouped into folders");
}
