//! CPU time and resident memory of a process tree, read from `/proc` (Linux only).
//!
//! CPU time is utime + stime of `/proc/PID/stat` (fields 14 and 15, in clock ticks of
//! `USER_HZ`, which the kernel fixes at 100 for user space on every architecture Hestia runs
//! on) summed over the process and its live descendants; RSS is `VmRSS` of
//! `/proc/PID/status`, summed the same way.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};

/// Clock ticks per second of the times in `/proc/PID/stat`.
const USER_HZ: f64 = 100.0;

/// Samples one server process tree.
#[derive(Debug, Clone, Copy)]
pub struct ServerProbe {
    pub pid: u32,
}

/// One reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub processes: usize,
}

impl ServerProbe {
    pub fn new(pid: u32) -> ServerProbe {
        ServerProbe { pid }
    }

    /// CPU time and RSS of the process and every live descendant.
    pub fn sample(&self) -> Result<Sample> {
        let pids = tree(self.pid)?;
        let mut s = Sample {
            processes: pids.len(),
            ..Sample::default()
        };
        for pid in pids {
            // A child may exit between listing and reading; only the root must exist.
            match cpu_ticks(pid) {
                Ok(t) => s.cpu_seconds += t as f64 / USER_HZ,
                Err(e) if pid == self.pid => return Err(e),
                Err(_) => continue,
            }
            s.rss_kib += rss_kib(pid).unwrap_or(0);
        }
        Ok(s)
    }
}

/// CPU seconds this process (the load generator) has used so far.
pub fn self_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_ticks(&s))
        .map_or(0.0, |t| t as f64 / USER_HZ)
}

fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is --server-pid right?)"))?;
    parse_ticks(&stat).with_context(|| format!("unexpected /proc/{pid}/stat"))
}

/// utime + stime from a `/proc/PID/stat` line. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parent_of(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(kib)
}

/// `root` and all its live descendants.
fn tree(root: u32) -> Result<Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = parent_of(&stat) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut seen = HashSet::from([root]);
    let mut i = 0;
    while i < out.len() {
        for &c in children.get(&out[i]).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(c) {
                out.push(c);
            }
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_ticks(line), Some(300));
        assert_eq!(parent_of(line), Some(7));
    }

    #[test]
    fn own_process_is_readable() {
        let probe = ServerProbe::new(std::process::id());
        let s = probe.sample().expect("sample");
        assert!(s.rss_kib > 0);
        assert!(s.processes >= 1);
    }
}
