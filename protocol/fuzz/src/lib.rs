//! What each fuzz target does with its input, shared with `protocol/tests/fuzz_corpus.rs`
//! (which includes this file by path), so the corpus replay runs exactly the fuzzed code.
//!
//! Every function must return normally for every input: an error is a fine answer, a panic
//! (including a failed `assert!` on a decoder's promise) is a bug.

use cookim_protocol::binary;
use cookim_protocol::chat::ChatUp;
use cookim_protocol::push::PushUp;
use cookim_protocol::thumbnail::{self, Limits};

/// The message limit for `binary_decode`: small, so the fuzzer also explores `TooLarge`.
pub const BINARY_LIMIT: usize = 64 * 1024;

/// The image limits for `thumbnail`: small, so one input never costs more than a few
/// milliseconds or megabytes, and the fuzzer reaches every limit.
pub const THUMBNAIL_LIMITS: Limits = Limits {
    max_width: 1024,
    max_height: 1024,
    max_pixels: 512 * 512,
    max_alloc: 16 * 1024 * 1024,
};

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 4] = [
    ("binary_decode", binary_decode),
    ("chat_up", chat_up),
    ("push_up", push_up),
    ("thumbnail", thumbnail),
];

/// `binary::decode`; an accepted upload re-encodes to a frame that decodes to the same upload.
pub fn binary_decode(data: &[u8]) {
    let Ok(upload) = binary::decode(data, BINARY_LIMIT) else {
        return;
    };
    assert_eq!(
        upload.header.file_size,
        upload.payload.len() as u64,
        "fileSize is the payload length"
    );
    assert!(
        data.ends_with(upload.payload),
        "the payload is the end of the frame"
    );
    let again = binary::encode(&upload.header, upload.payload);
    let decoded = binary::decode(&again, usize::MAX);
    assert!(
        matches!(&decoded, Ok(d) if *d == upload),
        "{upload:?} re-encoded gives {decoded:?}"
    );
}

/// `ChatUp::from_text` on the input read as (lossy) UTF-8.
pub fn chat_up(data: &[u8]) {
    let _ = ChatUp::from_text(&String::from_utf8_lossy(data));
}

/// `PushUp::from_text` on the input read as (lossy) UTF-8.
pub fn push_up(data: &[u8]) {
    let _ = PushUp::from_text(&String::from_utf8_lossy(data));
}

/// `thumbnail::thumbnail` within [`THUMBNAIL_LIMITS`]; an accepted image gives a PNG that fits
/// in the thumbnail square.
pub fn thumbnail(data: &[u8]) {
    let Ok(png) = thumbnail::thumbnail(data, &THUMBNAIL_LIMITS) else {
        return;
    };
    let size =
        thumbnail::decode(&png, &THUMBNAIL_LIMITS).map(|image| (image.width(), image.height()));
    let side = thumbnail::THUMB_SIDE;
    assert!(
        matches!(size, Ok((w, h)) if w <= side && h <= side),
        "our thumbnail decodes as {size:?}"
    );
}
