//! Replies: the preview of the message a reply answers, read from the store for the replies
//! among some stored messages (a history page, a resume, a gap fill, a new post).

use std::collections::{HashMap, HashSet};

use protocol::chat::{Reply, ReplyPreview};
use protocol::ids::{SessionId, UserId};
use store::Store;
use store::model::Message;

use crate::error::Result;

/// The replies among `messages` (all of chat `sid`) with their previews, by the replying
/// message's `seq`. A reply whose original is gone has none.
pub(crate) async fn replies_of(
    store: &dyn Store,
    sid: &SessionId,
    messages: &[Message],
) -> Result<HashMap<i64, Reply>> {
    let mut wanted: Vec<i64> = messages.iter().filter_map(|m| m.reply_to).collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    wanted.sort_unstable();
    wanted.dedup();
    let originals = store.messages_at(sid, &wanted).await?;
    let senders: Vec<UserId> = originals
        .iter()
        .map(|m| m.uid.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names: HashMap<UserId, String> = store
        .users(&senders)
        .await?
        .into_iter()
        .map(|u| (u.id, u.nickname))
        .collect();
    let previews: HashMap<i64, ReplyPreview> = originals
        .iter()
        .map(|m| {
            let nickname = names.get(&m.uid).map_or("", String::as_str);
            let preview = ReplyPreview::of(
                m.uid.as_str(),
                nickname,
                &m.msg_type,
                &m.content,
                &m.file_name,
            );
            (m.seq, preview)
        })
        .collect();
    Ok(messages
        .iter()
        .filter_map(|m| {
            let to = m.reply_to?;
            let preview = previews.get(&to)?.clone();
            Some((m.seq, Reply { to, preview }))
        })
        .collect())
}
