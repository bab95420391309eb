//! `allowed_origins`: websocket upgrades from other origins are refused with 403, and the
//! server keeps serving the allowed ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use support::{Result, TestServer};

/// Opens `/ws-push` with `origin` (if any); `Ok(status)` of the refusal or `Ok(101)`.
async fn upgrade_status(addr: SocketAddr, origin: Option<&str>) -> Result<u16> {
    let mut request = format!("ws://{addr}/ws-push").into_client_request()?;
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin)?);
    }
    let stream = async_net::TcpStream::connect(addr).await?;
    match async_tungstenite::client_async(request, stream).await {
        Ok((_, response)) => Ok(response.status().as_u16()),
        Err(async_tungstenite::tungstenite::Error::Http(response)) => {
            Ok(response.status().as_u16())
        }
        Err(e) => Err(e.into()),
    }
}

#[test]
fn only_allowed_origins_open_websockets() -> Result {
    let server =
        TestServer::start_with(|c| c.allowed_origins = Some(vec!["https://chat.example".into()]))?;
    let addr = server.addr();
    server.block_on(async move {
        assert_eq!(
            upgrade_status(addr, Some("https://evil.example")).await?,
            403
        );
        assert_eq!(upgrade_status(addr, None).await?, 403);
        assert_eq!(
            upgrade_status(addr, Some("https://chat.example")).await?,
            101
        );
        Ok(())
    })
}

#[test]
fn without_a_list_any_origin_is_accepted() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        assert_eq!(
            upgrade_status(addr, Some("https://anywhere.example")).await?,
            101
        );
        assert_eq!(upgrade_status(addr, None).await?, 101);
        Ok(())
    })
}
