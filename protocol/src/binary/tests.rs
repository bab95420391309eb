//! Unit tests of the `<#BinaryInfo#>` codec: limits at N and N+1, incomplete vs invalid, and
//! properties over arbitrary headers, payloads and split points.

use super::*;
use proptest::prelude::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn header(name: Option<&str>, size: usize) -> BinaryHeader {
    BinaryHeader {
        user_token: "u".into(),
        session_token: "s".into(),
        msg_type: "file".into(),
        file_name: name.map(str::to_owned),
        file_size: size as u64,
        file_type: "image/png".into(),
        reply_to: None,
    }
}

fn upload(name: Option<&str>, payload: &[u8]) -> Vec<u8> {
    encode(&header(name, payload.len()), payload)
}

/// The JSON text of a header whose object is exactly `len` bytes long.
fn header_of_len(len: usize) -> Result<Vec<u8>> {
    let empty = serde_json::to_vec(&header(Some(""), 0))?;
    let name = "n".repeat(len - empty.len());
    let json = serde_json::to_vec(&header(Some(&name), 0))?;
    assert_eq!(json.len(), len);
    Ok(json)
}

#[test]
fn spec_example_splits() -> Result<()> {
    let frame = b"{\"userToken\":\"eyJ\",\"sessionToken\":\"eyJ\",\"msgType\":\"file\",\"fileName\":\"cat.png\",\"fileSize\":3,\"fileType\":\"image/png\"}<#BinaryInfo#>\x89PN";
    let up = decode(frame, 1 << 20)?;
    assert_eq!(up.header.file_name.as_deref(), Some("cat.png"));
    assert_eq!(up.header.file_type, "image/png");
    assert_eq!(up.header.file_size, 3);
    assert_eq!(up.payload, b"\x89PN");
    Ok(())
}

#[test]
fn marker_inside_file_name_does_not_split() -> Result<()> {
    let frame = upload(Some("a<#BinaryInfo#>b"), b"xyz");
    let up = decode(&frame, 1 << 20)?;
    assert_eq!(up.header.file_name.as_deref(), Some("a<#BinaryInfo#>b"));
    assert_eq!(up.payload, b"xyz");
    Ok(())
}

#[test]
fn voice_message_has_no_file_name() -> Result<()> {
    let frame = br#"{"userToken":"u","sessionToken":"s","msgType":"file","fileSize":2,"fileType":"audio/wav"}<#BinaryInfo#>RI"#;
    let up = decode(frame, 1 << 20)?;
    assert_eq!(up.header.file_name, None);
    assert_eq!(up.header.file_type, "audio/wav");
    assert_eq!(up.payload, b"RI");
    Ok(())
}

#[test]
fn message_limit_at_n_and_n_plus_1() {
    let frame = upload(None, &[0; 50]);
    assert!(decode(&frame, frame.len()).is_ok());
    assert!(matches!(
        decode(&frame, frame.len() - 1),
        Err(Error::TooLarge { size, limit }) if size == frame.len() && limit == frame.len() - 1
    ));
}

#[test]
fn message_limit_is_checked_before_anything_else() {
    // Not JSON, no marker, but too large: the size is what gets reported.
    assert!(matches!(
        decode(&[b'x'; 101], 100),
        Err(Error::TooLarge {
            size: 101,
            limit: 100
        })
    ));
}

#[test]
fn header_limit_at_n_and_n_plus_1() -> Result<()> {
    let mut frame = header_of_len(MAX_HEADER)?;
    frame.extend_from_slice(MARKER);
    assert_eq!(decode(&frame, usize::MAX)?.payload, b"");

    let mut frame = header_of_len(MAX_HEADER + 1)?;
    frame.extend_from_slice(MARKER);
    assert!(matches!(
        decode(&frame, usize::MAX),
        Err(Error::HeaderTooLarge { limit: MAX_HEADER })
    ));
    Ok(())
}

#[test]
fn long_header_is_refused_without_reading_it_all() {
    // An unterminated string of 1 MiB: only the first MAX_HEADER bytes are ever parsed.
    let mut frame = br#"{"fileName":""#.to_vec();
    frame.resize(1 << 20, b'a');
    assert!(matches!(
        decode(&frame, usize::MAX),
        Err(Error::HeaderTooLarge { .. })
    ));
    // Whitespace forever is no header either.
    assert!(matches!(
        decode(&[b' '; MAX_HEADER + 1], usize::MAX),
        Err(Error::HeaderTooLarge { .. })
    ));
    assert!(matches!(
        decode(&[b' '; MAX_HEADER], usize::MAX),
        Err(Error::Incomplete)
    ));
}

#[test]
fn cut_short_is_incomplete() {
    let whole = upload(Some("a.png"), b"abc");
    let header_len = whole.len() - MARKER.len() - 3;
    for cut in [
        0,
        1,
        10,
        header_len - 1,
        header_len,
        header_len + 1,
        header_len + MARKER.len() - 1,
    ] {
        assert!(
            matches!(decode(&whole[..cut], usize::MAX), Err(Error::Incomplete)),
            "cut at {cut}"
        );
    }
    assert!(matches!(decode(b"  ", 100), Err(Error::Incomplete)));
}

#[test]
fn cut_inside_the_payload_is_a_size_mismatch() {
    let whole = upload(Some("a.png"), b"abcdef");
    assert!(matches!(
        decode(&whole[..whole.len() - 2], usize::MAX),
        Err(Error::SizeMismatch {
            declared: 6,
            actual: 4
        })
    ));
}

#[test]
fn invalid_is_not_incomplete() -> TestResult {
    let header = serde_json::to_vec(&header(None, 0))?;
    let then = |tail: &[u8]| [header.as_slice(), tail].concat();
    assert!(matches!(
        decode(&then(b"xyz"), 100_000),
        Err(Error::NoMarker)
    ));
    assert!(matches!(
        decode(&then(b" <#BinaryInfo#>"), 100_000),
        Err(Error::NoMarker)
    ));
    assert!(matches!(
        decode(&then(b"<#BinaryInfo!"), 100_000),
        Err(Error::NoMarker)
    ));
    // A marker with no header, and other things that are not an object.
    for bad in [
        &b"<#BinaryInfo#>abc"[..],
        b"\"abc",
        b"[1",
        b"123",
        b"{\"a\" 1}",
        b"{,",
    ] {
        assert!(
            matches!(decode(bad, 100), Err(Error::Json(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    Ok(())
}

#[test]
fn header_lying_about_the_size_is_refused() {
    let lie = |declared: usize, payload: &[u8]| encode(&header(None, declared), payload);
    assert!(matches!(
        decode(&lie(5, b"abc"), 1000),
        Err(Error::SizeMismatch {
            declared: 5,
            actual: 3
        })
    ));
    assert!(matches!(
        decode(&lie(3, b"abcde"), 1000),
        Err(Error::SizeMismatch {
            declared: 3,
            actual: 5
        })
    ));
    assert!(matches!(
        decode(&lie(0, b"a"), 1000),
        Err(Error::SizeMismatch {
            declared: 0,
            actual: 1
        })
    ));
    let huge = br#"{"msgType":"file","fileSize":18446744073709551615}<#BinaryInfo#>"#;
    assert!(matches!(
        decode(huge, 1000),
        Err(Error::SizeMismatch {
            declared: u64::MAX,
            actual: 0
        })
    ));
}

#[test]
fn missing_size_is_taken_from_the_payload() -> Result<()> {
    for frame in [
        &br#"{"msgType":"file"}<#BinaryInfo#>abcd"#[..],
        br#"{"msgType":"file","fileSize":null}<#BinaryInfo#>abcd"#,
    ] {
        let up = decode(frame, 1000)?;
        assert_eq!(up.header.file_size, 4);
        assert_eq!(up.payload, b"abcd");
    }
    Ok(())
}

#[test]
fn bad_size_values_are_invalid_fields() {
    for size in ["-1", "1.5", "\"3\"", "true"] {
        let frame = format!(r#"{{"msgType":"file","fileSize":{size}}}<#BinaryInfo#>"#);
        assert!(
            matches!(
                decode(frame.as_bytes(), 1000),
                Err(Error::InvalidField {
                    field: "fileSize",
                    ..
                })
            ),
            "fileSize {size}"
        );
    }
}

#[test]
fn msg_type_must_be_file() {
    for frame in [
        &br#"{"msgType":"text","fileSize":0}<#BinaryInfo#>"#[..],
        br#"{"msgType":"system","fileSize":0}<#BinaryInfo#>"#,
        br#"{"fileSize":0}<#BinaryInfo#>"#,
        br#"{"msgType":7}"#,
    ] {
        assert!(
            matches!(
                decode(frame, 1000),
                Err(Error::InvalidField {
                    field: "msgType",
                    ..
                })
            ),
            "{:?}",
            String::from_utf8_lossy(frame)
        );
    }
}

proptest! {
    #[test]
    fn round_trip(name in proptest::option::of(".*"), payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let h = header(name.as_deref(), payload.len());
        let frame = encode(&h, &payload);
        let up = decode(&frame, usize::MAX).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(up.header, h);
        prop_assert_eq!(up.payload, payload.as_slice());
    }

    #[test]
    fn every_prefix_is_incomplete_or_short(
        name in proptest::option::of(".{0,20}"),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<proptest::sample::Index>(),
    ) {
        let frame = encode(&header(name.as_deref(), payload.len()), &payload);
        let cut = at.index(frame.len());
        match decode(&frame[..cut], usize::MAX) {
            Err(Error::Incomplete) => {}
            Err(Error::SizeMismatch { declared, actual }) => prop_assert!(declared > actual as u64),
            other => prop_assert!(false, "prefix of {} bytes gave {:?}", cut, other),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes, 128);
    }

    #[test]
    fn arbitrary_tails_after_a_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut frame = br#"{"msgType":"file"}"#.to_vec();
        frame.extend_from_slice(&tail);
        match decode(&frame, usize::MAX) {
            Ok(up) => prop_assert!(tail.starts_with(MARKER) && up.payload == &tail[MARKER.len()..]),
            Err(Error::Incomplete) => prop_assert!(MARKER.starts_with(&tail)),
            Err(_) => {}
        }
    }
}
