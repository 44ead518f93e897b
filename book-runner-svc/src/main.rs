//! Runs book-runner-svc alone, as in production: `book-runner-svc [--config FILE]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eyrie_platform::standalone::main::<eyrie_book_runner_svc::BookRunnerSvc>().await
}
