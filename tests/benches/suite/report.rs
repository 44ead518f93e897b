//! The table: printed, and written between markers into BENCHMARKS.md.

use std::time::Duration;

/// One line of the table.
pub struct Row {
    /// B1..B6, or a label for a row without target.
    pub id: &'static str,
    /// What was measured.
    pub what: String,
    /// The measured value.
    pub value: String,
    /// The floor it is compared with, measured in the same run.
    pub floor: String,
    /// value / floor.
    pub ratio: String,
    /// The target, and whether it was met.
    pub target: String,
}

const BEGIN: &str = "<!-- suite benchmark: begin -->";
const END: &str = "<!-- suite benchmark: end -->";

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / 1048576.0),
        );
    format!("{cores} cores (`nproc`), {memory} memory")
}

/// The table as Markdown, with the machine and the command.
pub fn markdown(rows: &[Row], elapsed: Duration) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Machine: {}. Command: `scripts/bench` (release build, PostgreSQL). Whole run: {:.0} s.\n\n",
        machine(),
        elapsed.as_secs_f64()
    ));
    out.push_str("| id | what | value | floor (same run) | ratio | target |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.id, row.what, row.value, row.floor, row.ratio, row.target
        ));
    }
    out
}

/// Replaces the text between the markers of `path` (appending them if missing).
pub fn write_into(path: &str, table: &str) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{table}{END}");
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{block}{}",
                &current[..begin],
                &current[end + END.len()..]
            )
        }
        _ => format!("{current}\n## The suite\n\n{block}\n"),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// "met" or "MISSED", for the target column.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
