//! Running `wrk` and reading its report, shared by the HTTP benchmarks.

use std::path::{Path, PathBuf};
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

impl Report {
    /// How many requests completed (`N requests in 10.00s, …`).
    #[allow(dead_code)]
    pub fn requests(&self) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let (count, rest) = line.trim().split_once(' ')?;
            rest.starts_with("requests in").then(|| count.parse().ok()).flatten()
        })
    }
}

/// Runs `wrk` with `args` and returns its report.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Report {
    let output = Command::new("wrk").args(args).output().expect("wrk is installed (apt-get install wrk)");
    Report(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("lua script");
    path
}

/// A wrk script of update checks on binary 1.0.0 from 10,000 client ids `<prefix>-<n>`.
#[allow(dead_code)]
pub fn check_script(dir: &Path, key: &str, prefix: &str) -> PathBuf {
    script(
        dir,
        &format!("check-{prefix}.lua"),
        &format!(
            "local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", \"/v0.1/public/codepush/update_check?deployment_key={key}&app_version=1.0.0&client_unique_id={prefix}-\" .. (n % 10000))\nend\n"
        ),
    )
}

/// A wrk script of `DeploymentSucceeded` reports of v50, each from a new client id (so each is a
/// new durable write).
#[allow(dead_code)]
pub fn report_script(dir: &Path, key: &str, prefix: &str) -> PathBuf {
    script(
        dir,
        &format!("report-{prefix}.lua"),
        &format!(
            "local n = 0\nrequest = function()\n  n = n + 1\n  local body = '{{\"deployment_key\":\"{key}\",\"app_version\":\"1.0.0\",\"client_unique_id\":\"{prefix}-' .. n .. '\",\"label\":\"v50\",\"status\":\"DeploymentSucceeded\"}}'\n  return wrk.format(\"POST\", \"/v0.1/public/codepush/report_status/deploy\", {{[\"Content-Type\"] = \"application/json\"}}, body)\nend\n"
        ),
    )
}
