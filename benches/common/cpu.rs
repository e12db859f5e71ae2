//! CPU time of a process from /proc (Linux), shared by the benchmarks that report server CPU per
//! request: on a shared machine, steal time moves request rates far more than CPU per request.

/// utime + stime of process `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

/// utime + stime of this process, in seconds.
#[allow(dead_code)]
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}
