//! Reading one string field out of an encoded protobuf message, without its type.
//!
//! The gateway forwards messages as opaque bytes; to authorize a call it needs only the resource
//! names a request carries (`name`, `parent`, `deployment.name`, ...). Walking the wire format
//! for those few fields keeps the forwarding path free of per-message decoding.

use prost::{
    bytes::Buf as _,
    encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field},
};

/// The request is not a valid protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request message is not valid protobuf")]
pub struct Malformed;

impl From<prost::DecodeError> for Malformed {
    fn from(_: prost::DecodeError) -> Self {
        Self
    }
}

/// The string at `path` (field numbers, outermost first) in `message`, if present, borrowed
/// from the message.
///
/// The last occurrence wins, as protobuf merging does. A malformed message gives `Err`.
pub fn string_at<'a>(message: &'a [u8], path: &[u32]) -> Result<Option<&'a str>, Malformed> {
    match bytes_at(message, path)? {
        Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|_| Malformed),
        None => Ok(None),
    }
}

/// The encoded value of the length-delimited field (string, bytes or message) at `path` in
/// `message`, if present: a set message field is present even when it is empty.
///
/// The last occurrence wins, as protobuf merging does. A malformed message gives `Err`.
pub fn bytes_at<'a>(mut message: &'a [u8], path: &[u32]) -> Result<Option<&'a [u8]>, Malformed> {
    let Some((&field, rest)) = path.split_first() else {
        return Ok(None);
    };
    let mut found: Option<&'a [u8]> = None;
    while message.has_remaining() {
        let (number, wire_type) = decode_key(&mut message)?;
        if number == field && wire_type == WireType::LengthDelimited {
            let len = usize::try_from(decode_varint(&mut message)?).map_err(|_| Malformed)?;
            if len > message.len() {
                return Err(Malformed);
            }
            found = Some(&message[..len]);
            message.advance(len);
        } else {
            skip_field(wire_type, number, &mut message, DecodeContext::default())?;
        }
    }
    match (found, rest.is_empty()) {
        (None, _) => Ok(None),
        (Some(bytes), true) => Ok(Some(bytes)),
        (Some(nested), false) => bytes_at(nested, rest),
    }
}

/// The unsigned integer (varint) field at `path` in `message`, if present; `path` names the
/// messages that lead to it, then the field. The last occurrence wins, as protobuf merging does.
pub fn uint_at(message: &[u8], path: &[u32]) -> Result<Option<u64>, Malformed> {
    let Some((&field, parents)) = path.split_last() else {
        return Ok(None);
    };
    let mut message = if parents.is_empty() {
        message
    } else {
        match bytes_at(message, parents)? {
            Some(nested) => nested,
            None => return Ok(None),
        }
    };
    let mut found = None;
    while message.has_remaining() {
        let (number, wire_type) = decode_key(&mut message)?;
        if number == field && wire_type == WireType::Varint {
            found = Some(decode_varint(&mut message)?);
        } else {
            skip_field(wire_type, number, &mut message, DecodeContext::default())?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use eyrie_proto::v1 as pb;
    use prost::Message as _;

    use super::*;

    #[test]
    fn reads_top_level_and_nested_names() {
        let get = pb::GetDeploymentRequest {
            name: "projects/acme/groups/web/deployments/shop".into(),
        };
        assert_eq!(
            string_at(&get.encode_to_vec(), &[1]).unwrap(),
            Some("projects/acme/groups/web/deployments/shop")
        );

        let update = pb::UpdateDeploymentRequest {
            deployment: Some(pb::Deployment {
                name: "projects/acme/groups/web/deployments/shop".into(),
                image: "odoo:18".into(),
                ..Default::default()
            }),
            request_id: "r1".into(),
            ..Default::default()
        };
        let bytes = update.encode_to_vec();
        assert_eq!(
            string_at(&bytes, &[1, 1]).unwrap(),
            Some("projects/acme/groups/web/deployments/shop")
        );
        assert_eq!(string_at(&bytes, &[3]).unwrap(), Some("r1"));
    }

    #[test]
    fn reads_a_nested_integer() {
        let response = pb::WatchJobResponse {
            kind: Some(pb::watch_job_response::Kind::Event(pb::JobEvent {
                job: "projects/a/groups/g/deployments/d/jobs/j".into(),
                sequence: 300,
                ..Default::default()
            })),
        };
        let bytes = response.encode_to_vec();
        assert_eq!(uint_at(&bytes, &[1, 2]).unwrap(), Some(300));
        let heartbeat = pb::WatchJobResponse {
            kind: Some(pb::watch_job_response::Kind::Heartbeat(Default::default())),
        };
        assert_eq!(uint_at(&heartbeat.encode_to_vec(), &[1, 2]).unwrap(), None);
        assert!(uint_at(&[0x0a, 0x05, 0x10], &[1, 2]).is_err());
    }

    #[test]
    fn absent_fields_are_none_and_garbage_is_an_error() {
        let empty = pb::ListProjectsRequest::default().encode_to_vec();
        assert_eq!(string_at(&empty, &[1]).unwrap(), None);
        let list = pb::ListDeploymentsRequest {
            page_size: 5,
            ..Default::default()
        };
        assert_eq!(string_at(&list.encode_to_vec(), &[1]).unwrap(), None);
        assert!(string_at(&[0x0a, 0x05, b'a'], &[1]).is_err());
    }

    #[test]
    fn an_empty_message_field_is_present() {
        let inline = pb::RenderBookRequest {
            book_ref: Some(pb::render_book_request::BookRef::Book(pb::Book::default())),
            ..Default::default()
        };
        assert_eq!(
            bytes_at(&inline.encode_to_vec(), &[2]).unwrap(),
            Some(&[][..])
        );
        let named = pb::RenderBookRequest {
            book_ref: Some(pb::render_book_request::BookRef::Name("books/b".into())),
            ..Default::default()
        };
        assert_eq!(bytes_at(&named.encode_to_vec(), &[2]).unwrap(), None);
    }
}
