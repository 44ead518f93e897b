//! What client commands print: aligned text for people, JSON for scripts.
//!
//! JSON is the canonical protobuf JSON mapping (as grpcurl prints it), produced from the
//! descriptors the proto crate embeds, with the proto field names (`display_name`) and default
//! values included so that scripts can rely on every field being there.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use clap::ValueEnum;
use eyrie_proto::v1;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use prost_types::Timestamp;

/// `println!` that stops the command quietly once the reader is gone (`eyrie ... | head`),
/// where `println!` would panic.
macro_rules! outln {
    () => {
        $crate::client::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::client::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes one line on stdout; see [`outln`].
pub fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(error) = written {
        // The reader chose to stop reading: not a failure of the command.
        let code = i32::from(error.kind() != std::io::ErrorKind::BrokenPipe);
        std::process::exit(code);
    }
}

/// The `--output` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables and `key: value` lines.
    Text,
    /// JSON: one document, or one object per line for watches.
    Json,
}

/// Prints resources in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
}

/// Labelled values of one resource, shown as aligned `key: value` lines; empty values are left out.
pub type Details = Vec<(&'static str, String)>;

impl Output {
    /// Prints one resource.
    pub fn one<M: Named>(&self, message: &M, details: impl FnOnce(&M) -> Details) {
        match self.format {
            Format::Json => outln!("{:#}", to_json(message)),
            Format::Text => print_details(&details(message)),
        }
    }

    /// Prints a list: a JSON array, or a table with `header` and one row per item.
    pub fn list<M: Named>(&self, items: &[M], header: &[&str], row: impl Fn(&M) -> Vec<String>) {
        match self.format {
            Format::Json => {
                let array: Vec<_> = items.iter().map(to_json).collect();
                outln!("{:#}", serde_json::Value::Array(array));
            }
            Format::Text => {
                let rows: Vec<_> = items.iter().map(row).collect();
                print_table(header, &rows);
            }
        }
    }
}

/// Protobuf messages of the public API, by their full name (which the JSON mapping needs).
pub trait Named: prost::Message {
    /// Full protobuf name, e.g. `eyrie.v1.Deployment`.
    const FULL_NAME: &'static str;
}

macro_rules! named {
    ($($message:ident),* $(,)?) => {
        $(impl Named for v1::$message {
            const FULL_NAME: &'static str = concat!("eyrie.v1.", stringify!($message));
        })*
    };
}

named!(
    Project,
    Scope,
    Cluster,
    DeploymentGroup,
    Deployment,
    Operation,
    Book,
    BookSource,
    RenderBookResponse,
    Job,
    JobEvent,
    DeploymentVersion,
    DiffVersionsResponse,
);

/// `message` in the canonical protobuf JSON mapping.
pub fn to_json<M: Named>(message: &M) -> serde_json::Value {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        DescriptorPool::decode(eyrie_proto::PUBLIC_FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptors decode")
    });
    let descriptor = pool
        .get_message_by_name(M::FULL_NAME)
        .expect("every Named message is in the public descriptors");
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message decodes with its own descriptor");
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("protobuf JSON serialization cannot fail into a Value")
}

/// Prints `key: value` lines, keys aligned, empty values left out.
pub fn print_details<K: AsRef<str>>(details: &[(K, String)]) {
    let width = details
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, _)| key.as_ref().len())
        .max()
        .unwrap_or(0);
    for (key, value) in details.iter().filter(|(_, value)| !value.is_empty()) {
        let mut lines = value.lines();
        let label = format!("{}:", key.as_ref());
        outln!(
            "{label:<width$}  {}",
            lines.next().unwrap_or(""),
            width = width + 1
        );
        for line in lines {
            outln!("{:<width$}  {line}", "", width = width + 1);
        }
    }
}

/// Prints a table with a header row, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(header, rows) {
        outln!("{line}");
    }
}

fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                if index == last {
                    (*cell).to_owned()
                } else {
                    let padding = widths[index] - cell.chars().count();
                    format!("{cell}{}", " ".repeat(padding))
                }
            })
            .collect::<Vec<_>>()
            .join("   ")
    };
    let mut lines = vec![render(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| render(row.iter().map(String::as_str).collect())),
    );
    lines
}

/// Protobuf enums shown by their short lowercase label: `DEPLOYMENT_STATE_DRAFT` is `draft`.
pub trait Label {
    /// The short label.
    fn label(self) -> String;
}

macro_rules! labels {
    ($($enumeration:ident => $prefix:literal),* $(,)?) => {
        $(impl Label for v1::$enumeration {
            fn label(self) -> String {
                short_label(self.as_str_name(), $prefix)
            }
        })*
    };
}

labels!(
    DeploymentType => "DEPLOYMENT_TYPE_",
    DeploymentState => "DEPLOYMENT_STATE_",
    OperationAction => "OPERATION_ACTION_",
    OperationStatus => "OPERATION_STATUS_",
    OperationPhaseStatus => "OPERATION_PHASE_STATUS_",
    BookPhase => "BOOK_PHASE_",
    JobStatus => "JOB_STATUS_",
    StepStatus => "STEP_STATUS_",
    VersionReason => "VERSION_REASON_",
    ChangeKind => "CHANGE_KIND_",
);

fn short_label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// A timestamp in RFC 3339, or empty when unset.
pub fn time(timestamp: Option<&Timestamp>) -> String {
    timestamp.map(ToString::to_string).unwrap_or_default()
}

/// Time from `start` to `end`, when both are set and in order.
pub fn between(start: Option<&Timestamp>, end: Option<&Timestamp>) -> Option<Duration> {
    let start = SystemTime::try_from(*start?).ok()?;
    let end = SystemTime::try_from(*end?).ok()?;
    end.duration_since(start).ok()
}

/// Time since `start` (zero for a start in the future, as clocks may differ slightly).
pub fn since(start: Option<&Timestamp>) -> Duration {
    start
        .and_then(|start| SystemTime::try_from(*start).ok())
        .and_then(|start| SystemTime::now().duration_since(start).ok())
        .unwrap_or_default()
}

/// A short duration for people: `0.4s`, `12.0s`, `3m05s`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds < 3600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_proto_field_names_enum_names_and_keeps_defaults() {
        let deployment = v1::Deployment {
            name: "projects/a/groups/g/deployments/d".into(),
            display_name: "Shop".into(),
            state: v1::DeploymentState::Draft.into(),
            revision: 3,
            create_time: Some(Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = to_json(&deployment);
        assert_eq!(json["display_name"], "Shop");
        assert_eq!(json["state"], "DEPLOYMENT_STATE_DRAFT");
        assert_eq!(json["revision"], "3");
        assert_eq!(json["create_time"], "2027-01-15T08:00:00Z");
        assert_eq!(json["running_job_count"], 0);
        assert_eq!(json["clusters"], serde_json::json!([]));
    }

    #[test]
    fn every_named_message_is_in_the_descriptors() {
        to_json(&v1::Project::default());
        to_json(&v1::Scope::default());
        to_json(&v1::Cluster::default());
        to_json(&v1::DeploymentGroup::default());
        to_json(&v1::Operation::default());
        to_json(&v1::Book::default());
        to_json(&v1::BookSource::default());
        to_json(&v1::RenderBookResponse::default());
        to_json(&v1::Job::default());
        to_json(&v1::JobEvent::default());
        to_json(&v1::DeploymentVersion::default());
        to_json(&v1::DiffVersionsResponse::default());
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let rows = vec![
            vec!["projects/acme".to_owned(), "Acme".to_owned()],
            vec!["projects/b".to_owned(), "B".to_owned()],
        ];
        assert_eq!(
            table_lines(&["NAME", "DISPLAY NAME"], &rows),
            [
                "NAME            DISPLAY NAME",
                "projects/acme   Acme",
                "projects/b      B",
            ]
        );
    }

    #[test]
    fn labels_and_durations_read_well() {
        assert_eq!(v1::DeploymentState::Draft.label(), "draft");
        assert_eq!(v1::StepStatus::Succeeded.label(), "succeeded");
        assert_eq!(human(Duration::from_millis(420)), "0.4s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
    }
}
