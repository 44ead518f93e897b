//! The rows of the table, one module per subject.

mod cpu;
pub mod fair_floor;
pub mod fanout;
pub mod idle_watch;
pub mod memory;
pub mod pickup;
mod seed;
pub mod throughput;
pub mod unary;
pub mod versions;

use std::{future::Future, time::Duration};

use crate::stats::Samples;

/// Runs `calls` calls of `call`, `concurrency` at a time; their latencies.
pub async fn measure<F, Fut>(calls: usize, concurrency: usize, call: F) -> anyhow::Result<Samples>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let per_task = calls.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let started = std::time::Instant::now();
                call().await?;
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all: Vec<Duration> = Vec::with_capacity(calls);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(Samples::new(all))
}
