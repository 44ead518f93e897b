//! The kinds of step a book may use, and the arguments each takes.

/// A step kind, as written in a book's `uses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// Server-side apply of one or more manifests.
    Apply,
    /// JSON merge patch of one object.
    Patch,
    /// Delete one object (absent is success).
    Delete,
    /// Wait until a condition holds on one object.
    Wait,
    /// Create a Secret of generated values if it does not exist.
    Secret,
    /// Copy keys of a Secret the job may read (e.g. in a sibling deployment's namespace) into
    /// a Secret of its own namespace.
    CopySecret,
    /// Run a Kubernetes Job to completion.
    Job,
    /// Poll a URL until it answers.
    HttpCheck,
}

/// What an argument's rendered text must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgumentForm {
    /// YAML documents, each a mapping (`manifest`): kept as text.
    Documents,
    /// One YAML mapping (`patch`, `labels`): kept as text.
    Mapping,
    /// One YAML scalar, read as its text (every other argument: names, conditions, numbers).
    Scalar,
}

impl ArgumentForm {
    /// The form of the argument `name`, whatever the step kind.
    pub fn of(name: &str) -> Self {
        match name {
            "manifest" => Self::Documents,
            "patch" | "labels" => Self::Mapping,
            _ => Self::Scalar,
        }
    }
}

/// Arguments that name one object: shared by patch, delete and wait.
const OBJECT: [&str; 3] = ["api_version", "kind", "name"];

impl StepKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::Apply,
        Self::Patch,
        Self::Delete,
        Self::Wait,
        Self::Secret,
        Self::CopySecret,
        Self::Job,
        Self::HttpCheck,
    ];

    /// The name books use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "k8s.apply",
            Self::Patch => "k8s.patch",
            Self::Delete => "k8s.delete",
            Self::Wait => "k8s.wait",
            Self::Secret => "k8s.secret",
            Self::CopySecret => "k8s.copy_secret",
            Self::Job => "k8s.job",
            Self::HttpCheck => "http.check",
        }
    }

    /// Reads a `uses` value.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Arguments the step cannot run without.
    pub fn required_arguments(self) -> Vec<&'static str> {
        match self {
            Self::Apply | Self::Job => vec!["manifest"],
            Self::Patch => [OBJECT.as_slice(), &["patch"]].concat(),
            Self::Delete => OBJECT.to_vec(),
            Self::Wait => [OBJECT.as_slice(), &["condition"]].concat(),
            Self::Secret => vec!["name", "keys"],
            Self::CopySecret => vec!["from_namespace", "from_name", "name"],
            Self::HttpCheck => vec!["url"],
        }
    }

    /// Arguments the step may take besides the required ones.
    pub fn optional_arguments(self) -> &'static [&'static str] {
        match self {
            Self::Apply => &["force"],
            Self::Patch | Self::Delete => &["namespace"],
            // `fail_when`: conditions (one per line) that end the wait as failed.
            Self::Wait => &["namespace", "fail_when"],
            Self::Secret => &["namespace", "length", "labels"],
            // `keys`: comma-separated keys to copy (every key when absent).
            Self::CopySecret => &["namespace", "keys", "labels"],
            Self::Job => &[],
            Self::HttpCheck => &["expect_status"],
        }
    }

    /// Tells whether `argument` is one this kind takes.
    pub fn accepts(self, argument: &str) -> bool {
        self.required_arguments().contains(&argument)
            || self.optional_arguments().contains(&argument)
    }

    /// Names of every kind, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_know_their_arguments() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::parse(kind.as_str()), Some(kind));
            for argument in kind.required_arguments() {
                assert!(kind.accepts(argument));
            }
        }
        assert_eq!(StepKind::parse("k8s.scale"), None);
        assert!(StepKind::Wait.accepts("condition"));
        assert!(StepKind::Wait.accepts("fail_when"));
        assert!(!StepKind::Job.accepts("fail_when"));
        assert!(!StepKind::Apply.accepts("condition"));
    }
}
