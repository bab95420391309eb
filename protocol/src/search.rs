//! Search terms: how a message's text and a query are cut into the terms a search index holds,
//! and where a query's terms fall in a text (for a highlighted snippet). Pure functions, the
//! same for every store, so a message is found the same way on SQLite and on MongoDB.
//!
//! Text is folded before it is cut: decomposed (NFD), combining marks dropped, lower-cased, so
//! "Café", "CAFE" and "cafe" are one term. Letters and digits of other scripts make words;
//! Chinese, Japanese and Korean have no spaces between words, so a run of their characters
//! becomes its overlapping character pairs ("東京都" is "東京" and "京都"; a lone character
//! is a term of its own). A query term matches a term it equals or begins ("caf" finds
//! "café"; "東京" finds "東京" in "東京都").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest term kept, in characters (longer words are cut).
pub const MAX_TERM: usize = 32;

/// Most terms indexed for one message (the rest of a very long text is not searchable).
pub const MAX_TERMS: usize = 512;

/// Most terms a query may have.
pub const MAX_QUERY_TERMS: usize = 8;

/// A word of a text: where it is (bytes of the original) and its folded form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Byte offset of its first character in the original text.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Folded (see the module doc), at most [`MAX_TERM`] characters.
    pub folded: String,
    /// A run of Chinese, Japanese or Korean characters (indexed by pairs).
    pub cjk: bool,
}

/// The distinct terms of `text`, in order of first appearance, at most [`MAX_TERMS`].
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(text) {
        for term in word_terms(&word) {
            if out.len() >= MAX_TERMS {
                return out;
            }
            if !out.contains(&term) {
                out.push(term);
            }
        }
    }
    out
}

/// The terms of a query, at most [`MAX_QUERY_TERMS`]: each must prefix some term of a
/// message for the message to match. Empty if the query has no letter or digit.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut out = terms(query);
    out.truncate(MAX_QUERY_TERMS);
    out
}

/// The words of `text` with their places.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut current: Option<Word> = None;
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        let kind = if is_cjk(c) {
            Some(true)
        } else if c.is_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match (kind, &mut current) {
            (Some(cjk), Some(word)) if word.cjk == cjk => {
                word.end = end;
                push_folded(&mut word.folded, c);
            }
            (Some(cjk), _) => {
                out.extend(current.take());
                let mut word = Word {
                    start: at,
                    end,
                    folded: String::new(),
                    cjk,
                };
                push_folded(&mut word.folded, c);
                current = Some(word);
            }
            (None, _) => out.extend(current.take()),
        }
    }
    out.extend(current);
    out
}

/// The parts of `text` a query's terms match, as byte ranges of whole words (a CJK run is
/// matched where one of the query's pairs falls in it).
pub fn matches(text: &str, query: &[String]) -> Vec<(usize, usize)> {
    words(text)
        .into_iter()
        .filter(|word| {
            let own = word_terms(word);
            query
                .iter()
                .any(|q| own.iter().any(|term| term.starts_with(q.as_str())))
        })
        .map(|word| (word.start, word.end))
        .collect()
}

fn word_terms(word: &Word) -> Vec<String> {
    if !word.cjk {
        return vec![word.folded.clone()];
    }
    let chars: Vec<char> = word.folded.chars().collect();
    if chars.len() < 2 {
        return vec![word.folded.clone()];
    }
    chars.windows(2).map(|pair| pair.iter().collect()).collect()
}

/// Appends `c` folded, while the word is shorter than [`MAX_TERM`]. CJK characters are kept
/// as they are (decomposing a Hangul syllable would give its letters).
fn push_folded(word: &mut String, c: char) {
    if is_cjk(c) {
        if word.chars().count() < MAX_TERM {
            word.push(c);
        }
        return;
    }
    for d in std::iter::once(c).nfd().filter(|d| !is_combining_mark(*d)) {
        for l in d.to_lowercase() {
            if word.chars().count() < MAX_TERM {
                word.push(l);
            }
        }
    }
}

/// Whether `c` is written without spaces between words: Han, Hiragana, Katakana, Hangul.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x1100..=0x11FF    // Hangul Jamo
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F  // CJK Extensions B and later
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_whole_and_in_order() {
        assert_eq!(
            terms("Café au LAIT, café! Naïve 42x"),
            ["cafe", "au", "lait", "naive", "42x"]
        );
        assert_eq!(terms("  ... !!! "), Vec::<String>::new());
        assert_eq!(terms("ÉCOLE Straße"), ["ecole", "straße"]);
    }

    #[test]
    fn chinese_japanese_and_korean_go_by_pairs() {
        assert_eq!(
            terms("東京都に行く"),
            ["東京", "京都", "都に", "に行", "行く"]
        );
        assert_eq!(terms("我 love 中文"), ["我", "love", "中文"]);
        assert_eq!(terms("한국어"), ["한국", "국어"]);
        assert_eq!(query_terms("京都"), ["京都"]);
    }

    #[test]
    fn long_texts_and_queries_are_bounded() {
        let long = (0..2_000)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(terms(&long).len(), MAX_TERMS);
        assert_eq!(query_terms(&long).len(), MAX_QUERY_TERMS);
        let word = "a".repeat(1_000);
        assert_eq!(terms(&word)[0].chars().count(), MAX_TERM);
    }

    #[test]
    fn matches_are_whole_words_of_the_original() {
        let text = "Le Café est fermé; CAFÉS ouverts";
        let found: Vec<&str> = matches(text, &query_terms("caf"))
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect();
        assert_eq!(found, ["Café", "CAFÉS"]);
        let text = "我在東京都";
        let found: Vec<&str> = matches(text, &query_terms("京都"))
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect();
        assert_eq!(found, ["我在東京都"], "a CJK run is one place");
    }
}
