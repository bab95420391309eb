//! How the nodes see the cluster (`/cluster/members`), and whether they agree.

use super::*;

/// The web addresses of the nodes up now.
pub(super) fn running(directory: &Directory) -> Vec<SocketAddr> {
    directory
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .flatten()
        .copied()
        .collect()
}

/// One node's view of the cluster, from `/cluster/members`.
#[derive(Debug)]
pub(super) struct View {
    pub(super) me: Value,
    pub(super) status: String,
    /// Members it sees alive.
    pub(super) alive: Vec<Value>,
    /// Every member with its state.
    pub(super) members: Vec<(Value, String)>,
    /// Its subscription digest, sorted.
    pub(super) digest: Vec<String>,
}

impl View {
    /// Every node joined, each sees every other alive, and all hold the same subscription
    /// table; else what is still missing.
    pub(super) fn agree(views: &[View]) -> Result<(), String> {
        for view in views {
            if view.status != "Joined" {
                return Err(format!("{} is {}", view.me, view.status));
            }
            for other in views.iter().filter(|o| o.me != view.me) {
                if !view.alive.contains(&other.me) {
                    return Err(format!("{} does not see {} alive", view.me, other.me));
                }
            }
        }
        if let Some(first) = views.first()
            && let Some(other) = views.iter().find(|v| v.digest != first.digest)
        {
            return Err(format!(
                "subscription tables differ: {} has {:?}, {} has {:?}",
                first.me, first.digest, other.me, other.digest
            ));
        }
        Ok(())
    }
}

pub(super) async fn view(addr: SocketAddr) -> Result<View> {
    let (_, body) = within(api::get_json(addr, "/cluster/members")).await?;
    let node = &body["node"];
    let members: Vec<(Value, String)> = node["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| (m["id"].clone(), field(m, "state")))
                .collect()
        })
        .unwrap_or_default();
    let mut digest: Vec<String> = node["subscriptions"]
        .as_array()
        .map(|d| d.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    digest.sort();
    Ok(View {
        me: node["me"].clone(),
        status: node["status"].as_str().unwrap_or_default().to_owned(),
        alive: members
            .iter()
            .filter(|(_, state)| state == "Alive")
            .map(|(id, _)| id.clone())
            .collect(),
        members,
        digest,
    })
}

pub(super) async fn views(addrs: &[SocketAddr]) -> Result<Vec<View>> {
    let mut views = Vec::new();
    for &addr in addrs {
        views.push(view(addr).await?);
    }
    Ok(views)
}
