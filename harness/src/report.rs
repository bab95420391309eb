//! How the benchmark tools talk: progress lines on stderr, results as JSON on stdout.

use serde_json::Value;

/// A progress line on stderr, prefixed with the tool's name.
#[expect(clippy::print_stderr, reason = "progress goes to stderr")]
pub fn progress(tool: &str, text: &str) {
    eprintln!("{tool}: {text}");
}

/// The results, pretty JSON on stdout.
///
/// # Errors
/// Never for a `Value`; the `Result` is serde_json's.
#[expect(
    clippy::print_stdout,
    reason = "the results are the tools' output, as JSON on stdout"
)]
pub fn emit(out: &Value) -> serde_json::Result<()> {
    println!("{}", serde_json::to_string_pretty(out)?);
    Ok(())
}
