//! CPU time used by processes, from /proc: where a row's time goes.

use std::time::Duration;

/// (command name, user + system CPU time) of process `pid`.
fn stat(pid: &str) -> Option<(String, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks/s.
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    Some((name, Duration::from_millis((ticks(11)? + ticks(12)?) * 10)))
}

/// CPU time process `pid` has used so far.
pub fn of_process(pid: u32) -> Duration {
    stat(&pid.to_string()).map_or(Duration::ZERO, |(_, cpu)| cpu)
}

/// CPU time used so far by every running process named `name` (e.g. all PostgreSQL backends).
pub fn of_processes_named(name: &str) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| stat(entry.file_name().to_str()?))
        .filter(|(comm, _)| comm == name)
        .map(|(_, cpu)| cpu)
        .sum()
}
