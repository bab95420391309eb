//! `searchMessages` (an extension): the caller's messages by words, newest first, with a
//! highlighted snippet of each.

use std::collections::HashMap;

use protocol::ids::{MessageId, SessionId, UserId};
use protocol::rest::{SearchAnswer, SearchHit};
use protocol::search;
use store::model::{Message, Search, SearchCursor};

use super::groups::resolve;
use crate::app::App;
use crate::error::{Error, Result, ensure};
use crate::http::Form;
use crate::limits::Action;

/// Results per page at most (and by default 20).
const MAX_COUNT: i64 = 50;

/// Longest query, in bytes.
const MAX_QUERY: usize = 256;

/// Characters of a snippet before its first match, and in all.
const SNIPPET_BEFORE: usize = 30;
const SNIPPET_LEN: usize = 120;

/// `searchMessages`: `q` (words, each matched whole or as a prefix), optional `sessionid`,
/// `count` and `before` (the previous answer's `next`).
pub(super) async fn search(app: &App, form: &Form) -> Result<SearchAnswer> {
    let (who, _) = app.caller(form, "no privilege to search").await?;
    let query = form.str("q");
    ensure(query.len() <= MAX_QUERY, "query too long")?;
    let terms = search::query_terms(query);
    ensure(!terms.is_empty(), "search for at least one word")?;
    let session = match form.str("sessionid") {
        "" => None,
        text => Some(SessionId::parse(text).map_err(|_| Error::Invalid("no such session".into()))?),
    };
    let count = match form.int("count", 20) {
        c if c < 1 => 20,
        c => c.min(MAX_COUNT),
    };
    let before = match form.str("before") {
        "" => None,
        text => Some(cursor(text).ok_or_else(|| Error::Invalid("bad before".into()))?),
    };
    app.limit_user(Action::Search, &who.uid)?;
    let found = app
        .store()
        .search(Search {
            uid: who.uid.clone(),
            session,
            terms: terms.clone(),
            before,
            limit: u32::try_from(count).unwrap_or(20),
        })
        .await?;
    let next = match found.last() {
        Some(last) if found.len() as i64 == count => format!("{}-{}", last.dateline, last.id),
        _ => String::new(),
    };
    let mut uids: Vec<UserId> = found.iter().map(|m| m.uid.clone()).collect();
    uids.sort();
    uids.dedup();
    let users = app.users_by_id(&uids).await?;
    let mut names: HashMap<SessionId, String> = HashMap::new();
    let mut results = Vec::with_capacity(found.len());
    for m in &found {
        if !names.contains_key(&m.session_id)
            && let Some(session) = app.store().session(&m.session_id).await?
        {
            let (name, _) = resolve(app, &session, &who.uid).await?;
            names.insert(m.session_id.clone(), name);
        }
        let user = users.get(&m.uid);
        let (snippet, highlights) = snippet(searchable(m), &terms);
        results.push(SearchHit {
            sessionid: m.session_id.to_string(),
            session_name: names.get(&m.session_id).cloned().unwrap_or_default(),
            seq: m.seq,
            uid: m.uid.to_string(),
            nickname: user.map(|u| u.nickname.clone()).unwrap_or_default(),
            avatar: user.map(|u| u.avatar.to_string()).unwrap_or_default(),
            msg_type: m.msg_type.as_str().to_owned(),
            dateline: app.timestr(m.dateline),
            snippet,
            highlights,
        });
    }
    Ok(SearchAnswer {
        errmsg: String::new(),
        results,
        next,
    })
}

/// What of a message was searched: a text's content, a file's name.
fn searchable(m: &Message) -> &str {
    if m.msg_type == protocol::chat::ChatKind::File {
        &m.file_name
    } else {
        &m.content
    }
}

/// `<dateline>-<message id>`, as `next` gives it.
fn cursor(text: &str) -> Option<SearchCursor> {
    let (dateline, id) = text.split_once('-')?;
    Some(SearchCursor {
        dateline: dateline.parse().ok()?,
        id: MessageId::parse(id).ok()?,
    })
}

/// Up to [`SNIPPET_LEN`] characters of `text` from a little before its first match, `…`
/// where cut, and the matches in it as character ranges.
fn snippet(text: &str, terms: &[String]) -> (String, Vec<(usize, usize)>) {
    let found = search::matches(text, terms);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let index_of = |byte: usize| chars.partition_point(|(at, _)| *at < byte);
    let first = found.first().map_or(0, |(start, _)| index_of(*start));
    let from = first.saturating_sub(SNIPPET_BEFORE);
    let to = (from + SNIPPET_LEN).min(chars.len());
    let lead = usize::from(from > 0);
    let mut out: String = if from > 0 {
        "…".into()
    } else {
        String::new()
    };
    out.extend(chars[from..to].iter().map(|(_, c)| c));
    if to < chars.len() {
        out.push('…');
    }
    let highlights = found
        .iter()
        .map(|(start, end)| (index_of(*start), index_of(*end)))
        .filter(|(start, end)| *start >= from && *end <= to)
        .map(|(start, end)| (start - from + lead, end - from + lead))
        .collect();
    (out, highlights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_cut_around_the_first_match_and_mark_each() {
        let terms = search::query_terms("café");
        let (text, marks) = snippet("Un café, deux CAFÉS", &terms);
        assert_eq!(text, "Un café, deux CAFÉS");
        let chars: Vec<char> = text.chars().collect();
        let marked: Vec<String> = marks
            .iter()
            .map(|(a, b)| chars[*a..*b].iter().collect())
            .collect();
        assert_eq!(marked, ["café", "CAFÉS"]);
        let long = format!("{} café {}", "x ".repeat(100), "y ".repeat(100));
        let (text, marks) = snippet(&long, &terms);
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
        let chars: Vec<char> = text.chars().collect();
        let (a, b) = marks[0];
        assert_eq!(chars[a..b].iter().collect::<String>(), "café");
        assert!(chars.len() <= SNIPPET_LEN + 2);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = MessageId::from_random([3; MessageId::RANDOM_BYTES]);
        let text = format!("1234-{id}");
        assert_eq!(cursor(&text), Some(SearchCursor { dateline: 1234, id }));
        for bad in ["", "x-y", "12", "12-zz", "-5-abc"] {
            assert_eq!(cursor(bad), None, "{bad}");
        }
    }
}
