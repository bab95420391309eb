//! Message search: an FTS5 index of each text's (and file name's) terms, cut by
//! `protocol::search` so both backends find the same messages.
//!
//! `message_terms` is contentless (`content=''`): it holds the index only, keyed by the
//! message's rowid, and `contentless_delete=1` lets an edit or delete take a message's terms
//! out. Terms are stored folded and space-separated, so FTS5's own tokenizer only splits them.

use protocol::search;
use rusqlite::{Connection, Transaction, params};

use super::collect;
use super::rows::{self, MESSAGE_COLUMNS};
use crate::error::Result;
use crate::model::{Message, Search};

/// The index, created by schema version 5.
pub(super) const SCHEMA: &str = "
CREATE VIRTUAL TABLE message_terms USING fts5(
    terms, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
";

/// What of a message is searchable: a text's content, a file's name.
pub(super) fn searchable<'a>(
    msg_type: &str,
    content: &'a str,
    file_name: &'a str,
) -> Option<&'a str> {
    match msg_type {
        "text" => Some(content),
        "file" => Some(file_name),
        _ => None,
    }
}

/// Indexes the message at `rowid` (nothing if it has no terms).
pub(super) fn index(conn: &Connection, rowid: i64, text: &str) -> Result<()> {
    let terms = search::terms(text);
    if terms.is_empty() {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO message_terms (rowid, terms) VALUES (?1, ?2)")?
        .execute(params![rowid, terms.join(" ")])?;
    Ok(())
}

/// Schema step 5: the index, then every stored text and file name in it.
pub(super) fn create_and_fill(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA)?;
    let mut stmt = tx.prepare(
        "SELECT rowid, msg_type, content, file_name FROM messages \
         WHERE msg_type IN ('text', 'file')",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (rowid, msg_type, content, file_name): (i64, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        if let Some(text) = searchable(&msg_type, &content, &file_name) {
            index(tx, rowid, text)?;
        }
    }
    Ok(())
}

/// The FTS5 query of `terms`: each a prefix, all required. Terms are letters and digits only
/// (`protocol::search`), quoted all the same.
fn match_expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Messages matching `search` in chats its user is a member of, newest first: in the order
/// they were stored (rowid), which FTS5 walks backwards and stops at the page's end, so a
/// word in every other message costs no more than a rare one. (A chat imported from a dump
/// is stored in id order; its messages are found, in that order.) The cursor is the last
/// message's id.
pub(super) fn find(conn: &Connection, search: &Search) -> Result<Vec<Message>> {
    if search.terms.is_empty() || search.limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM message_terms f JOIN messages msg ON msg.rowid = f.rowid \
         WHERE message_terms MATCH ?1 \
         AND msg.session_id IN (SELECT session_id FROM members WHERE uid = ?2) \
         AND (?3 IS NULL OR msg.session_id = ?3) \
         AND (?4 IS NULL OR f.rowid < (SELECT rowid FROM messages WHERE id = ?4)) \
         ORDER BY f.rowid DESC LIMIT ?5"
    ))?;
    let before = search.before.as_ref();
    collect(
        stmt.query(params![
            match_expression(&search.terms),
            search.uid.as_str(),
            search.session.as_ref().map(|s| s.as_str()),
            before.map(|b| b.id.as_str()),
            search.limit,
        ])?,
        |row| rows::message(row, 0),
    )
}
