//! Autobahn|Testsuite against our websocket layer, through kosoku (a native re-implementation
//! of Autobahn's fuzzing client, from PyPI). The echo server here is built only in tests but
//! from the product's parts: the upgrade through async-h1 and [`accept_upgrade`], the socket
//! from [`websocket`] with [`ws_config`] (the `/ws-chat` settings), frames read by
//! [`next_frame`] and ended by [`end_reading`], and every frame written by [`write_loop`].
//!
//! kosoku's path comes from `COOKIM_KOSOKU` (`scripts/test` installs a pinned kosoku into a
//! cached virtualenv and exports it; `eval "$(scripts/kosoku)"` does the same by hand). When
//! the variable is not set the test fails and says how to set it, as the MongoDB tests do for
//! `MONGO_URI`: a compliance check that skips itself when its tool is missing would pass
//! without checking anything, and nobody would notice.
//!
//! Cases 12.x and 13.x (permessage-deflate) are excluded: cookim does not negotiate
//! compression (tungstenite has no deflate support), so those cases can only report
//! UNIMPLEMENTED.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message;
use http_types::upgrade::Receiver;
use http_types::{Request, Response};

use super::{Kind, Stream, accept_upgrade, end_reading, next_frame, race, websocket, write_loop};
use crate::config::Config;
use crate::outbox::{Outbound, Outbox};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Verdicts Autobahn counts as a pass (kosoku's `CaseResult.passed` uses the same set).
const PASSING: [&str; 3] = ["OK", "NON-STRICT", "INFORMATIONAL"];

/// The echo server's limits: the product's `/ws-chat` settings, with messages up to the 16 MiB
/// of Autobahn's largest cases (9.1.6, 9.2.6) instead of 8 MiB + 64 KiB.
fn echo_config() -> TestResult<Config> {
    let mut config = Config::new(
        "127.0.0.1:0".parse()?,
        b"autobahn echo, signs nothing".to_vec(),
    );
    config.max_ws_message = 16 * 1024 * 1024 + 1024;
    Ok(config)
}

/// Serves one connection: the HTTP upgrade as the product does it, then an echo.
async fn connection(stream: TcpStream, config: Arc<Config>, shutdown: runtime::Shutdown) {
    let slot: Arc<Mutex<Option<Receiver>>> = Arc::default();
    let endpoint = {
        let (slot, config) = (slot.clone(), config.clone());
        move |req: Request| {
            let (slot, config) = (slot.clone(), config.clone());
            async move {
                let res: Response = match accept_upgrade(&req, &config).await {
                    Ok((res, receiver)) => {
                        if let Ok(mut slot) = slot.lock() {
                            *slot = Some(receiver);
                        }
                        res
                    }
                    Err(res) => res,
                };
                Ok(res)
            }
        }
    };
    let mut server = async_h1::server::Server::new(stream, endpoint);
    while let Ok(async_h1::server::ConnectionStatus::KeepAlive) = server.accept_one().await {}
    drop(server);
    let receiver = slot.lock().ok().and_then(|mut slot| slot.take());
    let Some(receiver) = receiver else { return };
    let Some(conn) = receiver.await else { return };
    let (sink, stream) = websocket(conn, &config, Kind::Chat).await.split();
    let (outbox, inbox) = runtime::mailbox(config.outbox_capacity);
    race(
        echo(stream, outbox),
        write_loop(sink, inbox, &config, &shutdown, || {
            "{\"msgType\":\"keepalive\"}".to_owned()
        }),
    )
    .await;
}

/// Sends back every data message as it came.
async fn echo(mut stream: Stream, outbox: Outbox) {
    loop {
        let back = match next_frame(&mut stream).await {
            Ok(Message::Text(text)) => Outbound::Frame(text),
            Ok(Message::Binary(bytes)) => Outbound::Binary(bytes),
            Ok(_) => continue,
            Err(end) => return end_reading(&outbox, end).await,
        };
        if outbox.send(back).await.is_err() {
            return;
        }
    }
}

/// Where kosoku is: `COOKIM_KOSOKU`, which must name an executable file.
fn kosoku() -> TestResult<PathBuf> {
    let Some(path) = std::env::var_os("COOKIM_KOSOKU") else {
        return Err(
            "COOKIM_KOSOKU is not set: scripts/test installs kosoku and sets it; by hand, \
                    eval \"$(scripts/kosoku)\" && export COOKIM_KOSOKU"
                .into(),
        );
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(format!(
            "COOKIM_KOSOKU={} does not exist: run scripts/kosoku to install it",
            path.display()
        )
        .into());
    }
    Ok(path)
}

#[test]
fn autobahn_fuzzing_client_cases_pass_against_the_echo_server() -> TestResult {
    let kosoku = kosoku()?;
    let config = Arc::new(echo_config()?);
    let listener = smol::block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (trigger, shutdown) = runtime::shutdown();
    let server = smol::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            smol::spawn(connection(stream, config.clone(), shutdown.clone())).detach();
        }
    });
    let reports = tempfile::tempdir()?;
    let output = std::process::Command::new(&kosoku)
        .arg(format!("ws://{addr}"))
        .args(["-x", "12.*", "-x", "13.*", "-p", "4", "-o"])
        .arg(reports.path())
        .output()?;
    drop(server);
    trigger.signal();
    let index = std::fs::read_to_string(reports.path().join("index.json")).map_err(|e| {
        format!(
            "kosoku wrote no report ({e}); it said:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let index: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
        serde_json::from_str(&index)?;
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut cases = 0;
    for (case, result) in index.values().flatten() {
        cases += 1;
        let behavior = result["behavior"].as_str().unwrap_or("?");
        let close = result["behaviorClose"].as_str().unwrap_or("?");
        *verdicts.entry(format!("{behavior}/{close}")).or_default() += 1;
        if !PASSING.contains(&behavior) || !PASSING.contains(&close) {
            failed.push(format!("{case}: {behavior}, close {close}"));
        }
    }
    eprintln!("autobahn (kosoku): {cases} cases, 12.* and 13.* excluded; verdicts {verdicts:?}");
    if cases < 200 {
        return Err(format!(
            "kosoku ran only {cases} cases: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    if !failed.is_empty() {
        return Err(format!(
            "{} of {cases} Autobahn cases failed (reports in {}):\n{}",
            failed.len(),
            reports.keep().display(),
            failed.join("\n")
        )
        .into());
    }
    Ok(())
}
