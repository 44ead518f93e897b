//! Template rendering off the async threads, with a time limit: a heavy book must not stall
//! the runner's other calls. Fuel ends every render eventually; the limit answers the caller
//! before that.

use std::time::Duration;

/// Longest a caller waits for a book's templates.
pub const RENDER_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Runs `work` on the blocking pool; `None` when it takes longer than [`RENDER_TIME_LIMIT`].
pub async fn render_off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::time::timeout(RENDER_TIME_LIMIT, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_elapsed) => None,
    }
}
