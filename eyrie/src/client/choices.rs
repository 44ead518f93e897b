//! Command-line spellings of the API's enums, so `--help` lists the values.

use clap::ValueEnum;
use eyrie_proto::v1;

/// A deployment type.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeploymentType {
    Odoo,
    Pgo,
    Pxc,
    None,
}

impl From<DeploymentType> for v1::DeploymentType {
    fn from(choice: DeploymentType) -> Self {
        match choice {
            DeploymentType::Odoo => Self::Odoo,
            DeploymentType::Pgo => Self::Pgo,
            DeploymentType::Pxc => Self::Pxc,
            DeploymentType::None => Self::None,
        }
    }
}

/// A deployment state, as a list filter.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeploymentState {
    Draft,
    Initialize,
    Deploy,
    Pause,
    Dropped,
}

impl From<DeploymentState> for v1::DeploymentState {
    fn from(choice: DeploymentState) -> Self {
        match choice {
            DeploymentState::Draft => Self::Draft,
            DeploymentState::Initialize => Self::Initialize,
            DeploymentState::Deploy => Self::Deploy,
            DeploymentState::Pause => Self::Pause,
            DeploymentState::Dropped => Self::Dropped,
        }
    }
}

/// A job status, as a list filter.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<JobStatus> for v1::JobStatus {
    fn from(choice: JobStatus) -> Self {
        match choice {
            JobStatus::Queued => Self::Queued,
            JobStatus::Running => Self::Running,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// A lifecycle action, as templates see it when a book is rendered.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Action {
    Deploy,
    Pause,
    Drop,
}

impl From<Action> for v1::OperationAction {
    fn from(choice: Action) -> Self {
        match choice {
            Action::Deploy => Self::Deploy,
            Action::Pause => Self::Pause,
            Action::Drop => Self::Drop,
        }
    }
}

/// A book's text format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BookFormat {
    Yaml,
    Json,
}

impl From<BookFormat> for v1::BookFormat {
    fn from(choice: BookFormat) -> Self {
        match choice {
            BookFormat::Yaml => Self::Yaml,
            BookFormat::Json => Self::Json,
        }
    }
}
