//! Process memory, for the book's generation statistics (`generate_stats` reports peak GPU
//! memory; on a CPU the comparable figure is the peak resident set size).

/// The peak resident set size of this process in bytes (`VmHWM` in `/proc/self/status`), or
/// `None` where that file does not exist (non-Linux systems).
pub fn peak_rss_bytes() -> Option<u64> {
    status_field("VmHWM:")
}

/// The current resident set size of this process in bytes (`VmRSS`), or `None` off Linux.
pub fn current_rss_bytes() -> Option<u64> {
    status_field("VmRSS:")
}

/// Reads a `kB` field of `/proc/self/status`.
fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kb_field(&status, name)
}

fn parse_kb_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kilobytes() {
        let status = "Name:\tx\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_kb_field(status, "VmHWM:"), Some(123_456 * 1024));
        assert_eq!(parse_kb_field(status, "VmRSS:"), Some(1_024_000));
        assert_eq!(parse_kb_field(status, "VmPeak:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_rss_is_at_least_the_current_rss() {
        assert!(peak_rss_bytes().is_some() && current_rss_bytes().is_some());
        // Both from one read of the file: read separately, other tests running in this
        // process can raise the resident set between the reads, past the peak read first.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let peak = parse_kb_field(&status, "VmHWM:").unwrap();
        let now = parse_kb_field(&status, "VmRSS:").unwrap();
        assert!(peak >= now && now > 0, "peak {peak} B, now {now} B");
    }
}
