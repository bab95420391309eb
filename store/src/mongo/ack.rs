//! [`WriteAck`]: the write concern of every write that matters, from `--write-concern`.

use std::fmt;

use mongodb::options::{Acknowledgment, WriteConcern};

/// How many data-bearing members must have a write before it is acknowledged (and so before a
/// message is echoed, an upload answered, a sign-out reported done): MongoDB's write concern
/// `w`, always with the journal. It applies to every write to the collections that hold what
/// users are told is saved (see the [module doc](crate::mongo#write-concern)).
///
/// ```
/// use cookim_store::mongo::WriteAck;
/// assert_eq!("majority".parse::<WriteAck>(), Ok(WriteAck::Majority));
/// assert_eq!("2".parse::<WriteAck>(), Ok(WriteAck::Nodes(2)));
/// assert!("0".parse::<WriteAck>().is_err()); // unacknowledged writes are refused
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteAck {
    /// A majority of the replica set (the default): survives a primary failover.
    #[default]
    Majority,
    /// This many members (1 = the primary alone), at least 1.
    Nodes(u32),
}

impl WriteAck {
    /// The driver's write concern.
    pub(super) fn concern(self) -> WriteConcern {
        let w = match self {
            WriteAck::Majority => Acknowledgment::Majority,
            WriteAck::Nodes(n) => Acknowledgment::Nodes(n),
        };
        WriteConcern::builder().w(w).journal(true).build()
    }
}

impl fmt::Display for WriteAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteAck::Majority => f.write_str("majority"),
            WriteAck::Nodes(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for WriteAck {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<WriteAck, String> {
        if text.eq_ignore_ascii_case("majority") {
            return Ok(WriteAck::Majority);
        }
        match text.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(WriteAck::Nodes(n)),
            _ => Err(format!(
                "write concern must be `majority` or a number of members >= 1, not {text:?}"
            )),
        }
    }
}
