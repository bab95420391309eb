//! Health endpoints for orchestrators and operators: `GET /healthz` (the process serves),
//! `GET /readyz` (the store answers and the node is in its cluster, or alone by design), and
//! `GET /cluster/members` (this node's view of the cluster, as JSON).

use http_types::{Request, Response, StatusCode};
use mesh::node::MeshStatus;
use protocol::ids::UserId;
use serde_json::json;

use crate::app::App;
use crate::http;

/// How long a readiness check may take before it counts as failed (a probe must not hang).
const CHECK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves the health paths; `None` for any other request.
pub(crate) async fn serve(app: &App, req: &Request) -> Option<Response> {
    if req.method() != http_types::Method::Get && req.method() != http_types::Method::Head {
        return None;
    }
    match req.url().path() {
        "/healthz" => Some(http::json(&json!({ "status": "ok" }))),
        "/readyz" => Some(ready(app).await),
        "/cluster/members" => Some(members(app).await),
        _ => None,
    }
}

async fn ready(app: &App) -> Response {
    // Any cheap read proves the store answers; a user id nobody has is an indexed miss.
    let probe = UserId::from_random([0; UserId::RANDOM_BYTES]);
    let store_ok = matches!(
        runtime::deadline(CHECK_DEADLINE, app.registry.store().user(&probe)).await,
        Ok(Ok(_))
    );
    let mesh = match app.registry.mesh() {
        Some(mesh) => Some(
            runtime::deadline(CHECK_DEADLINE, mesh.info())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|info| info.status),
        ),
        None => None,
    };
    let mesh_ok = match mesh {
        None => true,
        Some(Some(status)) => matches!(status, MeshStatus::Joined | MeshStatus::Alone),
        Some(None) => false,
    };
    let body = json!({
        "ready": store_ok && mesh_ok,
        "store": if store_ok { "ok" } else { "database unavailable" },
        "mesh": match mesh {
            None => json!("single node"),
            Some(Some(status)) => json!(status),
            Some(None) => json!("stopped"),
        },
    });
    let mut res = http::json(&body);
    if !(store_ok && mesh_ok) {
        res.set_status(StatusCode::ServiceUnavailable);
    }
    res
}

async fn members(app: &App) -> Response {
    let Some(mesh) = app.registry.mesh() else {
        return http::json(&json!({ "clustered": false }));
    };
    match mesh.info().await {
        Ok(info) => http::json(&json!({ "clustered": true, "node": info })),
        Err(_) => http::text(StatusCode::ServiceUnavailable, "the mesh node has stopped"),
    }
}
