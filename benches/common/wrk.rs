//! Running `wrk` and reading its report, shared by the HTTP benchmarks.

use std::process::Command;

/// wrk's text report.
pub struct Report(String);

impl Report {
    /// The first word after `prefix` on the line that starts with it (`Requests/sec:`, `99%`, …).
    pub fn field(&self, prefix: &str) -> String {
        self.0
            .lines()
            .find_map(|line| {
                line.trim().strip_prefix(prefix).map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            })
            .unwrap_or_default()
    }
}

/// Runs `wrk` with `args` and returns its report.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Report {
    let output = Command::new("wrk").args(args).output().expect("wrk is installed (apt-get install wrk)");
    Report(String::from_utf8_lossy(&output.stdout).into_owned())
}
