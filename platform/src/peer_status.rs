//! What a peer's failed call means for its caller: one classification of `tonic::Status` codes,
//! shared by every client of a peer service (service to service, the gateway's upstream
//! streams, the console, the `eyrie` command).
//!
//! [`status`](crate::status) builds the statuses a service answers with; this module reads the
//! ones it gets back. A caller asks [`PeerFailure::of`] which kind of failure a code is, then
//! decides from the kind: what to tell its own caller (match on the variants), whether to send
//! the same unary request again later ([`PeerFailure::is_transient`]), or whether to reopen a
//! stream that broke from where it was ([`PeerFailure::stream_worth_reopening`]).

use tonic::Code;

/// The kind of a peer's failure, by its status code.
///
/// Each variant groups the codes that every caller treats alike; the split between two
/// variants is one some caller needs (e.g. [`Denied`](Self::Denied) and
/// [`Refused`](Self::Refused) are both final, but a page says 403 for one and 409 for the
/// other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerFailure {
    /// `NOT_FOUND`: what the request names does not exist (or is hidden from the caller).
    NotFound,
    /// `INVALID_ARGUMENT`, `OUT_OF_RANGE`: the request itself is wrong, or asks past the end of
    /// what exists (e.g. a sequence beyond a job's last event). The caller must change it.
    Invalid,
    /// `FAILED_PRECONDITION`, `ALREADY_EXISTS`: the request is valid, but the state of what it
    /// names refuses it (a state that does not allow the action, a missing parameter, an id
    /// taken).
    Refused,
    /// `PERMISSION_DENIED`: the caller may not do this.
    Denied,
    /// `UNAUTHENTICATED`: the caller's credential was not accepted (a token revoked or unknown;
    /// between services, an internal credential that does not match, e.g. during a rotation).
    Unauthenticated,
    /// `ABORTED`: a concurrent change won (a stale etag, a lost race); on a stream, the server
    /// dropped a watcher that fell behind, which resumes from its last position.
    Aborted,
    /// `RESOURCE_EXHAUSTED`: over a limit (a rate limit, a render's time limit, overload).
    Exhausted,
    /// `UNAVAILABLE`, `DEADLINE_EXCEEDED`: the peer could not be reached, or did not answer in
    /// time.
    Unavailable,
    /// `INTERNAL`, `UNKNOWN`, `CANCELLED`: the call broke. Either the peer failed while serving
    /// it (a crash, a database failure), or the connection did: tonic reports a stream reset by
    /// the peer or a proxy as `INTERNAL`, a dropped connection as `UNKNOWN`, a stream cancelled
    /// by the peer and its own timeout as `CANCELLED`.
    Broken,
    /// `UNIMPLEMENTED`, `DATA_LOSS`, and a failure with code `OK`: the peer cannot serve this
    /// call as things are set up. It lacks the method (another service, or an older version, at
    /// the address), lost data, or broke the protocol.
    Fault,
}

impl PeerFailure {
    /// The kind of failure `code` is.
    pub fn of(code: Code) -> Self {
        match code {
            Code::NotFound => Self::NotFound,
            Code::InvalidArgument | Code::OutOfRange => Self::Invalid,
            Code::FailedPrecondition | Code::AlreadyExists => Self::Refused,
            Code::PermissionDenied => Self::Denied,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::Aborted => Self::Aborted,
            Code::ResourceExhausted => Self::Exhausted,
            Code::Unavailable | Code::DeadlineExceeded => Self::Unavailable,
            Code::Internal | Code::Unknown | Code::Cancelled => Self::Broken,
            Code::Unimplemented | Code::DataLoss | Code::Ok => Self::Fault,
        }
    }

    /// Whether a later try of the same unary request may get another answer.
    ///
    /// The failures that judge the request itself ([`NotFound`](Self::NotFound),
    /// [`Invalid`](Self::Invalid), [`Refused`](Self::Refused), [`Denied`](Self::Denied)) give
    /// the same answer every time: trying again only delays the refusal. Every other failure is
    /// about the peer, the connection to it or how the services are set up, and a later try can
    /// succeed once that passes or is fixed: an outage, overload, a lost race, a credential
    /// being rotated, a peer address pointing at the wrong service. This says nothing of how
    /// soon: some pass in a second, others wait for an operator.
    pub fn is_transient(self) -> bool {
        !matches!(
            self,
            Self::NotFound | Self::Invalid | Self::Refused | Self::Denied
        )
    }

    /// Whether a stream that ended with this failure is worth opening again at once, from the
    /// last position it delivered (a watch: after the last sequence seen).
    ///
    /// Narrower than [`is_transient`](Self::is_transient): only a break of the stream itself
    /// ([`Unavailable`](Self::Unavailable), [`Broken`](Self::Broken), and
    /// [`Aborted`](Self::Aborted), the server dropping a watcher that fell behind). A watch is
    /// reopened promptly and, by the gateway, for as long as anyone watches; reopening it on a
    /// refusal of the setup ([`Unauthenticated`](Self::Unauthenticated), [`Fault`](Self::Fault))
    /// or of a limit ([`Exhausted`](Self::Exhausted)) would only get the same answer again, in
    /// a loop, where a unary retry is made on a slow schedule that can wait for a fix.
    pub fn stream_worth_reopening(self) -> bool {
        matches!(self, Self::Unavailable | Self::Broken | Self::Aborted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code: its kind, whether a unary retry may help, whether a stream is reopened.
    const TABLE: [(Code, PeerFailure, bool, bool); 17] = [
        (Code::Ok, PeerFailure::Fault, true, false),
        (Code::Cancelled, PeerFailure::Broken, true, true),
        (Code::Unknown, PeerFailure::Broken, true, true),
        (Code::InvalidArgument, PeerFailure::Invalid, false, false),
        (Code::DeadlineExceeded, PeerFailure::Unavailable, true, true),
        (Code::NotFound, PeerFailure::NotFound, false, false),
        (Code::AlreadyExists, PeerFailure::Refused, false, false),
        (Code::PermissionDenied, PeerFailure::Denied, false, false),
        (Code::ResourceExhausted, PeerFailure::Exhausted, true, false),
        (Code::FailedPrecondition, PeerFailure::Refused, false, false),
        (Code::Aborted, PeerFailure::Aborted, true, true),
        (Code::OutOfRange, PeerFailure::Invalid, false, false),
        (Code::Unimplemented, PeerFailure::Fault, true, false),
        (Code::Internal, PeerFailure::Broken, true, true),
        (Code::Unavailable, PeerFailure::Unavailable, true, true),
        (Code::DataLoss, PeerFailure::Fault, true, false),
        (
            Code::Unauthenticated,
            PeerFailure::Unauthenticated,
            true,
            false,
        ),
    ];

    #[test]
    fn every_code_has_its_kind_and_its_retry_answers() {
        for (code, kind, transient, reopen) in TABLE {
            let failure = PeerFailure::of(code);
            assert_eq!(failure, kind, "{code:?}");
            assert_eq!(failure.is_transient(), transient, "{code:?} transient");
            assert_eq!(failure.stream_worth_reopening(), reopen, "{code:?} reopen");
        }
    }

    #[test]
    fn the_table_covers_all_seventeen_codes_once() {
        let codes: std::collections::BTreeSet<i32> =
            TABLE.iter().map(|(code, ..)| *code as i32).collect();
        assert_eq!(codes, (0..=16).collect());
        // Code::from maps any number it does not know to UNKNOWN: 0..=16 are all there are.
        assert_eq!(Code::from(17), Code::Unknown);
    }

    #[test]
    fn a_stream_is_reopened_only_after_a_failure_a_retry_may_pass() {
        for (code, ..) in TABLE {
            let failure = PeerFailure::of(code);
            assert!(
                !failure.stream_worth_reopening() || failure.is_transient(),
                "{code:?}"
            );
        }
    }
}
