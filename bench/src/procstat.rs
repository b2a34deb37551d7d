//! Resource use of a process from /proc: current and peak RSS, and CPU seconds.

/// Peak resident set size (VmHWM) of `pid` in KiB, if readable.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size (VmRSS) of `pid` in KiB, if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_kib(&status, field)
}

fn field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// User + system CPU seconds consumed by `pid` so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, i.e. 11 and 12 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux configuration we run on; reading it needs unsafe libc.
    100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(super::peak_rss_kib(me).unwrap() > 0);
        assert!(super::rss_kib(me).unwrap() > 0);
        // The kernel reports VmHWM >= VmRSS only within one read of the file: other test threads
        // allocate between two reads, and the per-CPU RSS counters are approximate.
        let status = std::fs::read_to_string(format!("/proc/{me}/status")).unwrap();
        let rss = super::field_kib(&status, "VmRSS:").unwrap();
        assert!(rss <= super::field_kib(&status, "VmHWM:").unwrap());
        assert!(super::cpu_seconds(me).unwrap() >= 0.0);
    }
}
