//! Times between the domain (`chrono`) and the contracts (`google.protobuf.Timestamp`).

use chrono::{DateTime, Utc};

use crate::status::FieldViolation;

/// A contract timestamp of `time`.
pub fn to_timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The time of contract timestamp `time`, held by request field `field`.
pub fn from_timestamp(
    field: &str,
    time: prost_types::Timestamp,
) -> Result<DateTime<Utc>, FieldViolation> {
    u32::try_from(time.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(time.seconds, nanos))
        .ok_or_else(|| FieldViolation::new(field, "is not a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_invalid_ones_name_the_field() {
        let time = DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap();
        assert_eq!(from_timestamp("time", to_timestamp(time)).unwrap(), time);
        let invalid = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_timestamp("time", invalid).unwrap_err().field, "time");
    }
}
