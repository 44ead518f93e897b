//! The check that a runner frozen past its lease writes nothing for the jobs it lost.
//!
//! A runner is frozen while it holds jobs; another takes them over before it wakes. From then
//! until the job ends (or, at the latest, until the next fault could hand the job back to it),
//! the woken runner must start no write to the job's cluster. Each deployment of the run has a
//! cluster folder of its own, so a write there in that window can only be for the lost job.
//!
//! One write may still land after the wake-up without a fault: the one the worker had started
//! when it was frozen (past its lease check, before its first file operation), as a request in
//! flight reaches a real API server after its sender stopped. A worker runs one operation at a
//! time, so any second write is one it started after its lease was gone.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

use super::recorder::Opened;

/// A job the frozen runner held, taken over by another runner before it woke.
#[derive(Debug, Clone)]
pub struct LostJob {
    /// The job's id.
    pub job: String,
    /// The cluster folder of its deployment.
    pub folder: PathBuf,
    /// When it ended, if it did.
    pub ended_at: Option<SystemTime>,
}

/// One freeze of a runner, as the record needs it.
#[derive(Debug, Clone)]
pub struct Freeze {
    /// The frozen process.
    pub pid: i32,
    /// The record's index at the freeze: earlier opens were made before it.
    pub frozen_index: usize,
    /// The record's index at the wake-up: later opens were made after it.
    pub woke_index: usize,
    /// When it woke up.
    pub woke_at: SystemTime,
    /// How long after the wake-up no other fault could hand a lost job back to it.
    pub quiet_for: Duration,
    /// The jobs it held when frozen.
    pub held: usize,
    /// Those of them another runner took over before it woke.
    pub lost: Vec<LostJob>,
}

/// What the frozen runner did to the clusters of the jobs it lost.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Writes it started on those clusters before the freeze (the record saw it work there).
    pub before: usize,
    /// Writes that landed after the wake-up but were started before the freeze.
    pub in_flight: usize,
    /// Writes it started after its lease was gone: must stay empty.
    pub late: Vec<String>,
}

/// Reads the record `opened` for what the runner of `freeze` wrote to its lost jobs' clusters.
pub fn find(freeze: &Freeze, opened: &[Opened]) -> Findings {
    let mut findings = Findings::default();
    for lost in &freeze.lost {
        let quiet_end = freeze.woke_at + freeze.quiet_for;
        let window_end = lost
            .ended_at
            .map_or(quiet_end, |ended| ended.min(quiet_end));
        let mine = opened
            .iter()
            .filter(|open| open.pid == freeze.pid && open.folder == lost.folder);
        findings.before += mine
            .clone()
            .filter(|open| open.index < freeze.frozen_index)
            .count();
        let after: Vec<&Opened> = mine
            .filter(|open| open.index >= freeze.woke_index && open.at <= window_end)
            .collect();
        if let Some((_, late)) = after.split_first() {
            findings.in_flight += 1;
            for open in late {
                findings.late.push(format!(
                    "job {} of {}: its frozen runner (pid {}) started a write {} ms after it \
                     woke, while another runner held the job",
                    lost.job,
                    lost.folder.display(),
                    freeze.pid,
                    open.at
                        .duration_since(freeze.woke_at)
                        .unwrap_or_default()
                        .as_millis()
                ));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNER: i32 = 41;
    const OTHER: i32 = 42;

    fn at(millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
    }

    fn open(index: usize, pid: i32, folder: &str, millis: u64) -> Opened {
        Opened {
            index,
            pid,
            folder: PathBuf::from(folder),
            at: at(millis),
        }
    }

    /// Frozen at index 2, woke at index 4 at 10 s; lost the job of folder `a`, which ended at
    /// 12 s.
    fn freeze() -> Freeze {
        Freeze {
            pid: RUNNER,
            frozen_index: 2,
            woke_index: 4,
            woke_at: at(10_000),
            quiet_for: Duration::from_secs(5),
            held: 1,
            lost: vec![LostJob {
                job: "j1".into(),
                folder: PathBuf::from("a"),
                ended_at: Some(at(12_000)),
            }],
        }
    }

    #[test]
    fn a_runner_that_stops_writing_when_frozen_is_clean() {
        let record = [
            open(0, RUNNER, "a", 1_000),
            open(1, RUNNER, "a", 2_000),
            // The runner that took the job over writes; the frozen one does not.
            open(2, OTHER, "a", 8_000),
            open(3, OTHER, "a", 9_000),
            open(4, OTHER, "a", 10_500),
            // After the job ended, the woken runner may work on the deployment's next job.
            open(5, RUNNER, "a", 12_500),
        ];
        let findings = find(&freeze(), &record);
        assert_eq!(
            findings,
            Findings {
                before: 2,
                in_flight: 0,
                late: vec![],
            }
        );
    }

    #[test]
    fn the_write_in_flight_at_the_freeze_may_land_but_a_second_one_is_late() {
        let record = [
            open(0, RUNNER, "a", 1_000),
            open(4, RUNNER, "a", 10_001),
            open(5, RUNNER, "a", 10_050),
        ];
        let findings = find(&freeze(), &record);
        assert_eq!(findings.in_flight, 1);
        assert_eq!(findings.late.len(), 1, "{findings:?}");
        assert!(
            findings.late[0].contains("50 ms after it woke"),
            "{findings:?}"
        );
    }

    #[test]
    fn writes_to_other_folders_or_outside_the_window_are_not_counted() {
        let record = [
            // Another deployment's cluster: another job.
            open(4, RUNNER, "b", 10_100),
            open(5, RUNNER, "b", 10_200),
            // After the lost job ended.
            open(6, RUNNER, "a", 12_100),
            open(7, RUNNER, "a", 12_200),
        ];
        assert_eq!(find(&freeze(), &record), Findings::default());
    }

    #[test]
    fn a_job_still_running_is_watched_until_the_next_fault_could_land() {
        let mut freeze = freeze();
        freeze.lost[0].ended_at = None;
        let record = [
            open(4, RUNNER, "a", 11_000),
            open(5, RUNNER, "a", 14_000),
            open(6, RUNNER, "a", 15_500),
        ];
        let findings = find(&freeze, &record);
        assert_eq!((findings.in_flight, findings.late.len()), (1, 1));
    }
}
