//! A throw-away PostgreSQL cluster (Debian's `postgresql`, installed by `.ci/install`): made
//! with `initdb` in a temporary folder, listening on a Unix socket in that folder only (no TCP
//! port, so no port to race for), stopped and removed on drop. As root the server runs as the
//! package's `postgres` user, since PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::TempDir;

pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
}

impl Postgres {
    pub fn start(label: &str) -> Postgres {
        let bin = postgres_bin();
        let dir = TempDir::new(label);
        let data = dir.path("data");
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir.0));
        }
        run(as_server_user(&bin.join("initdb"))
            .args([
                "-U",
                "argo",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data));
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off",
            dir.0.display()
        );
        run(as_server_user(&bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.path("server.log"))
            .arg("start"));
        Postgres { dir, bin }
    }

    /// The URL of the cluster's `postgres` database, over its socket.
    pub fn url(&self) -> String {
        format!(
            "postgres://argo@localhost/postgres?host={}",
            self.dir.0.display()
        )
    }

    /// Stops the server at once (as a crash would): the store is down until [`Postgres::restart`].
    pub fn stop(&self) {
        run(as_server_user(&self.bin.join("pg_ctl"))
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.dir.path("data"))
            .arg("stop"));
    }

    pub fn restart(&self) {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off",
            self.dir.0.display()
        );
        run(as_server_user(&self.bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(self.dir.path("data"))
            .args(["-o", &options, "-l"])
            .arg(self.dir.path("server.log"))
            .arg("start"));
    }

    /// One SQL statement through `psql`: what it printed, unaligned, without headers.
    pub fn query(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-U", "argo", "-d", "postgres", "-h"])
            .arg(&self.dir.0)
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(output.status.success(), "psql {sql}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path("data"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The folder of PostgreSQL's server programs: Debian keeps them under
/// `/usr/lib/postgresql/VERSION/bin`, off the PATH.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|bin| bin.join("initdb").is_file())
        .unwrap_or_else(|| panic!("PostgreSQL is not installed: run `bash .ci/install`"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn as_server_user(program: &Path) -> Command {
    match is_root() {
        true => {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(program);
            command
        }
        false => Command::new(program),
    }
}

fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "{command:?}: {output:?}");
}
