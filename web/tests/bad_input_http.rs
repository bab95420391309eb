//! Bad HTTP: unknown routes, wrong methods, plain GETs on websocket paths, truncated and
//! oversized bodies, the wrong encoding, and static paths that try to leave the web folder.
//! Each gets a real status, and the server goes on serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_types::Method;
use support::fixtures::{assert_serving, list_sessions, png, register};
use support::http::{FilePart, get, multipart, raw, request, urlencode};
use support::{Result, TestServer};

const NOT_FOUND: &str = "404 error, resource not found!";

#[test]
fn unknown_routes_and_wrong_methods_are_404() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let form = Some("application/x-www-form-urlencoded");
        let cases = [
            (Method::Post, "/api/nope", form),
            (Method::Get, "/api/nope", None),
            (Method::Get, "/nope", None),
            (Method::Get, "/api/loginUser", None),
            (Method::Put, "/api/loginUser", form),
            (Method::Post, "/api/getFile", form),
            (Method::Get, "/ws-chat", None),
            (Method::Get, "/ws-push", None),
            (Method::Post, "/ws-chat", form),
            (Method::Post, "/ping", form),
            (Method::Delete, "/chat/", None),
        ];
        for (method, path, content_type) in cases {
            let reply = request(
                addr,
                method,
                path,
                content_type,
                b"login=a%40b.c&password=secret1".to_vec(),
            )
            .await?;
            assert_eq!(reply.status, 404, "{method} {path}: {reply:?}");
            assert_eq!(reply.text(), NOT_FOUND, "{method} {path}");
            assert!(
                reply
                    .header("Content-Type")
                    .is_some_and(|t| t.starts_with("text/plain")),
                "{method} {path}: {reply:?}"
            );
        }
        assert_serving(addr).await
    })
}

#[test]
fn broken_bodies_get_real_statuses() -> Result {
    const MAX_BODY: usize = 64 * 1024;
    let server = TestServer::start_with(|config| config.max_body = MAX_BODY)?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let icon = png(16, 16);
        let fields = [("userToken", ann.token.as_str()), ("sessionName", "Broken"), ("publicType", "1")];
        let part = FilePart { field: "sessionIcon", file_name: "i.png", content_type: "image/png", bytes: &icon };
        let (content_type, body) = multipart(&fields, Some(part));

        // A multipart body cut short (complete as HTTP, incomplete as multipart).
        let cut = body.get(..body.len() - 30).unwrap_or_default().to_vec();
        let reply = request(addr, Method::Post, "/api/createGroupSession", Some(&content_type), cut).await?;
        assert_eq!(reply.status, 400, "truncated multipart: {reply:?}");
        assert!(reply.text().starts_with("malformed request body"), "{reply:?}");
        // No boundary at all.
        let reply = request(addr, Method::Post, "/api/createGroupSession", Some("multipart/form-data"), body.clone()).await?;
        assert_eq!(reply.status, 400, "no boundary: {reply:?}");

        // An HTTP body shorter than its Content-Length, then the client stops sending.
        let head = format!(
            "POST /api/createGroupSession HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut short = head.into_bytes();
        short.extend_from_slice(body.get(..body.len() / 2).unwrap_or_default());
        let reply = raw(addr, &short).await?;
        assert_eq!(reply.status, 400, "body shorter than Content-Length: {reply:?}");

        // The upload routes take multipart only.
        let reply = request(addr, Method::Post, "/api/createGroupSession", Some("application/x-www-form-urlencoded"), urlencode(&fields)).await?;
        assert_eq!((reply.status, reply.text().as_str()), (404, NOT_FOUND), "urlencoded to a multipart route");

        // Over max_body: refused from the declared length, before reading it...
        let head = format!(
            "POST /api/createGroupSession HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let reply = raw(addr, head.as_bytes()).await?;
        assert_eq!(reply.status, 413, "declared too large: {reply:?}");
        // ...or while reading a chunked body that grows past it.
        let mut chunked = format!(
            "POST /api/registerUser HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        let chunk = vec![b'a'; 16 * 1024];
        for _ in 0..5 {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(&chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let reply = raw(addr, &chunked).await?;
        assert_eq!(reply.status, 413, "chunked too large: {reply:?}");
        // Exactly max_body is read (and answered like any other form).
        let mut exact = urlencode(&[("login", "")]);
        exact.resize(MAX_BODY, b'x');
        let reply = request(addr, Method::Post, "/api/registerUser", Some("application/x-www-form-urlencoded"), exact).await?;
        assert_eq!(reply.status, 200, "a body of exactly max_body: {reply:?}");

        assert!(list_sessions(addr, &ann, false).await?.is_empty(), "no broken request created a group");
        assert_serving(addr).await
    })
}

#[test]
fn static_paths_stay_in_the_web_folder() -> Result {
    let site = tempfile::tempdir()?;
    let www = site.path().join("www");
    std::fs::create_dir(&www)?;
    std::fs::write(www.join("index.html"), "<html>the cookim client</html>")?;
    std::fs::write(www.join("app.css"), "body { color: black }")?;
    std::fs::write(site.path().join("secret.txt"), "TOP SECRET")?;
    let server = TestServer::start_with(|config| config.www = Some(www.clone()))?;
    let addr = server.addr();
    server.block_on(async move {
        let escapes = [
            "/chat/../../etc/passwd",
            "/chat/%2e%2e/%2e%2e/etc/passwd",
            "/chat/../secret.txt",
            "/chat/%2e%2e/secret.txt",
            "/chat/%2e%2e%2fsecret.txt",
            "/chat/..%2fsecret.txt",
            "/chat/..%5csecret.txt",
            "/chat/%2fetc%2fpasswd",
            "/chat//etc/passwd",
            "/chat/app.css%00.html",
            "/chat/missing.html",
        ];
        for path in escapes {
            let reply = raw(
                addr,
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
            assert_eq!(reply.status, 404, "{path}: {reply:?}");
            assert!(
                !reply.text().contains("SECRET") && !reply.text().contains("root:"),
                "{path} leaked: {reply:?}"
            );
        }

        let index = get(addr, "/chat/").await?;
        assert_eq!(
            (index.status, index.text().as_str()),
            (200, "<html>the cookim client</html>")
        );
        assert!(
            index
                .header("Content-Type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{index:?}"
        );
        let css = get(addr, "/chat/app.css").await?;
        assert!(
            css.header("Content-Type")
                .is_some_and(|t| t.starts_with("text/css")),
            "{css:?}"
        );
        for path in ["/", "/chat"] {
            let redirect = get(addr, path).await?;
            assert_eq!(
                (redirect.status, redirect.header("Location")),
                (308, Some("chat/")),
                "{path}"
            );
        }
        let ping = get(addr, "/ping").await?;
        assert_eq!((ping.status, ping.text().as_str()), (200, "pong"));
        assert_eq!(ping.header("X-MyObject-Id"), Some("myobjid"));
        assert_serving(addr).await
    })
}
