//! Our own web client, compiled into the server: served at `/` (and `/chat/`) with a strict
//! Content-Security-Policy, every file of `web/client/` with its content type and an ETag; and
//! with `--www` a folder is served unchanged, without that policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http_types::Method;
use support::http::{Reply, request, request_with};
use support::{Result, TestServer, fail};

async fn get(addr: SocketAddr, path: &str) -> Result<Reply> {
    request(addr, Method::Get, path, None, Vec::new()).await
}

/// The client's folder in the source tree.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("client")
}

/// Every file of the client (its browser tests excepted), as URL paths.
fn client_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            if prefix.is_empty() && name == "tests" {
                continue;
            }
            client_files(&entry.path(), &format!("{prefix}/{name}"), out)?;
        } else {
            out.push(format!("{prefix}/{name}"));
        }
    }
    Ok(())
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "unknown",
    }
}

#[test]
fn the_client_is_served_at_the_root_with_a_strict_policy() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        for path in ["/", "/chat/"] {
            let page = get(addr, path).await?;
            assert_eq!(page.status, 200, "{path}: {page:?}");
            assert_eq!(
                page.header("Content-Type"),
                Some("text/html; charset=utf-8")
            );
            let csp = page.header("Content-Security-Policy").unwrap_or_default();
            for directive in [
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
            ] {
                assert!(
                    csp.contains(directive),
                    "{path}: CSP lacks {directive}: {csp}"
                );
            }
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(page.header("X-Content-Type-Options"), Some("nosniff"));
            let html = page.text();
            assert!(html.contains("<title>cookim</title>"), "{html}");
            // Nothing inline: every script has a src, no style attributes or elements, no
            // event handler attributes.
            for bad in ["<style", " style=", " onclick=", " onload=", "javascript:"] {
                assert!(!html.contains(bad), "index.html contains {bad}");
            }
            for script in html.split("<script").skip(1) {
                assert!(
                    script
                        .split('>')
                        .next()
                        .unwrap_or_default()
                        .contains("src="),
                    "inline script in index.html"
                );
            }
        }
        let chat = get(addr, "/chat").await?;
        assert_eq!((chat.status, chat.header("Location")), (307, Some("chat/")));
        for missing in ["/nothing.js", "/chat/nothing.js", "/js/", "/chatx"] {
            assert_eq!(get(addr, missing).await?.status, 404, "{missing}");
        }
        Ok(())
    })
}

#[test]
fn every_client_file_is_compiled_in_with_its_type_and_etag() -> Result {
    let mut files = Vec::new();
    client_files(&client_dir(), "", &mut files)?;
    files.sort();
    if files.len() < 10 {
        return fail(format!("client folder looks empty: {files:?}"));
    }
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        for file in &files {
            let url = if file == "/index.html" { "/" } else { file };
            let reply = get(addr, url).await?;
            assert_eq!(
                reply.status, 200,
                "{file} is not compiled in (static_files.rs)"
            );
            assert_eq!(
                reply.header("Content-Type"),
                Some(expected_type(file)),
                "{file}"
            );
            let on_disk = std::fs::read(client_dir().join(file.trim_start_matches('/')))?;
            assert!(reply.body == on_disk, "{file} differs from web/client");
            assert!(
                reply.header("Content-Security-Policy").is_some(),
                "{file} lacks the CSP"
            );
            assert_eq!(reply.header("Cache-Control"), Some("no-cache"), "{file}");
            let etag = reply.header("ETag").unwrap_or_default().to_owned();
            assert!(etag.starts_with('"') && etag.len() > 2, "{file}: {etag}");
            let again = request_with(
                addr,
                Method::Get,
                url,
                &[("If-None-Match", etag.as_str())],
                Vec::new(),
            )
            .await?;
            assert_eq!(again.status, 304, "{file} revalidation");
            assert!(again.body.is_empty());
            // Also reachable under /chat/, where CookIM's URL pointed.
            assert_eq!(get(addr, &format!("/chat{url}")).await?.status, 200);
        }
        Ok(())
    })
}

#[test]
fn a_www_folder_is_served_unchanged_without_our_policy() -> Result {
    let site = tempfile::tempdir()?;
    let index = "<html><script>inline();</script>CookIM</html>";
    let app = b"angular.module('app', [])\n".to_vec();
    let logo = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255];
    std::fs::create_dir(site.path().join("js"))?;
    std::fs::write(site.path().join("index.html"), index)?;
    std::fs::write(site.path().join("js/app.js"), &app)?;
    std::fs::write(site.path().join("logo.png"), &logo)?;
    let www = site.path().to_owned();
    let server = TestServer::start_with(|config| config.www = Some(www))?;
    let addr = server.addr();
    server.block_on(async move {
        for (path, body, kind) in [
            ("/chat/", index.as_bytes().to_vec(), "text/html"),
            ("/chat/js/app.js", app, "text/javascript"),
            ("/chat/logo.png", logo, "image/png"),
        ] {
            let reply = get(addr, path).await?;
            assert_eq!(reply.status, 200, "{path}");
            assert!(reply.body == body, "{path} changed");
            assert!(
                reply
                    .header("Content-Type")
                    .is_some_and(|t| t.starts_with(kind)),
                "{path}: {reply:?}"
            );
            assert!(
                reply.header("Content-Security-Policy").is_none(),
                "{path} got our CSP, which would break CookIM's inline code"
            );
        }
        let root = get(addr, "/").await?;
        assert_eq!((root.status, root.header("Location")), (308, Some("chat/")));
        // Our client's files are not mixed into the folder.
        assert_eq!(get(addr, "/js/app.js").await?.status, 404);
        Ok(())
    })
}
