//! Bad credentials: forged, unsigned and expired tokens, non-members. Each answer is a clear
//! error, and the server goes on serving other clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::fixtures::{
    assert_serving, create_group, errmsg, history, join_group, register, str_of,
};
use support::http::{api, api_ok};
use support::ws::{Chat, Ws};
use support::{Result, SECRET, TestServer};

/// `{"alg":"none"}`, base64url without padding.
const NONE_HEADER: &str = "eyJhbGciOiJub25lIn0";

fn now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// The claims of a token the server issued (kind, uid, nickname, avatar, generation, iat, exp).
fn claims_of(token: &str) -> Result<Value> {
    Ok(jsonwebtoken::dangerous::insecure_decode_claims::<Value>(
        token,
    )?)
}

/// Signs `claims` with HS256 and `secret`.
fn sign(claims: &Value, secret: &[u8]) -> Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// The same claims with `iat`/`exp` moved so the token expired a minute ago.
fn expired(claims: &Value) -> Result<Value> {
    let mut claims = claims.clone();
    claims["iat"] = json!(now()? - 16 * 60);
    claims["exp"] = json!(now()? - 60);
    Ok(claims)
}

/// Checks that `token` is refused everywhere a user token is read: the API and both sockets.
async fn assert_refused(
    addr: std::net::SocketAddr,
    token: &str,
    session_token: &str,
    what: &str,
) -> Result {
    let who = api(addr, "verifyUserToken", &[("userToken", token)]).await?;
    assert_eq!(
        who,
        json!({"uid": "", "nickname": "", "avatar": ""}),
        "{what}: verifyUserToken"
    );
    let friends = api(addr, "getFriends", &[("userToken", token)]).await?;
    assert_eq!(
        errmsg(&friends),
        "no privilege to get friends",
        "{what}: getFriends"
    );
    let refresh = api(addr, "userToken", &[("userToken", token)]).await?;
    assert_eq!(
        (errmsg(&refresh).as_str(), &refresh["userToken"]),
        ("no privilege to create user token", &Value::from("")),
        "{what}"
    );

    let mut chat = Ws::connect(addr, "/ws-chat").await?;
    chat.send_json(&json!({"userToken": token, "sessionToken": session_token, "msgType": "online", "content": ""})).await?;
    let reject = chat
        .next_json_where(&format!("{what}: the chat reject"), |v| {
            v["msgType"] != "keepalive"
        })
        .await?;
    assert_eq!(
        (&reject["msgType"], &reject["content"]),
        (
            &Value::from("reject"),
            &Value::from("no privilege to send message")
        ),
        "{what}"
    );
    let mut push = Ws::connect(addr, "/ws-push").await?;
    push.send_json(&json!({"userToken": token})).await?;
    let reject = push
        .next_json_where(&format!("{what}: the push reject"), |v| {
            v["msgType"] != "keepalive"
        })
        .await?;
    assert_eq!(
        (&reject["msgType"], &reject["content"]),
        (
            &Value::from("reject"),
            &Value::from("no privilege to receive push message")
        ),
        "{what}"
    );
    Ok(())
}

#[test]
fn forged_unsigned_and_expired_tokens_are_refused() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Guarded", true).await?;
        let session_token = str_of(&api_ok(addr, "sessionToken", &[("userToken", &ann.token), ("sessionid", &sid)]).await?, "sessionToken")?;
        let claims = claims_of(&ann.token)?;
        assert_eq!((&claims["kind"], &claims["uid"]), (&Value::from("user"), &Value::from(ann.uid.as_str())), "{claims}");

        // Control: the same claims signed the server's way are accepted, so each token below
        // is refused for the one thing it changes.
        let remade = sign(&claims, SECRET)?;
        assert_eq!(api(addr, "verifyUserToken", &[("userToken", &remade)]).await?["uid"], ann.uid.as_str());

        let forged = sign(&claims, b"some other secret")?;
        assert_refused(addr, &forged, &session_token, "a token signed with another secret").await?;
        let payload = ann.token.split('.').nth(1).unwrap_or_default();
        let unsigned = format!("{NONE_HEADER}.{payload}.");
        assert_refused(addr, &unsigned, &session_token, "an alg:none token").await?;
        let stale = sign(&expired(&claims)?, SECRET)?;
        assert_refused(addr, &stale, &session_token, "an expired token").await?;
        assert_refused(addr, "", &session_token, "no token").await?;
        assert_refused(addr, "a.b.c", &session_token, "garbage").await?;

        // Session tokens get the same treatment.
        let session_claims = claims_of(&session_token)?;
        let bad_sessions = [
            sign(&session_claims, b"some other secret")?,
            format!("{NONE_HEADER}.{}.", session_token.split('.').nth(1).unwrap_or_default()),
            sign(&expired(&session_claims)?, SECRET)?,
            ann.token.clone(),
        ];
        let mut chat = Ws::connect(addr, "/ws-chat").await?;
        for bad in &bad_sessions {
            chat.send_json(&json!({"userToken": ann.token, "sessionToken": bad, "msgType": "online", "content": ""})).await?;
            let reject = chat.next_of("reject").await?;
            assert_eq!(reject["content"], "no privilege to send message");
        }
        // The same socket still goes online with good tokens.
        chat.send_json(&json!({"userToken": ann.token, "sessionToken": session_token, "msgType": "online", "content": ""})).await?;
        let online = chat.next_of("online").await?;
        assert_eq!(online["uid"], ann.uid.as_str());
        assert_serving(addr).await
    })
}

#[test]
fn non_members_cannot_read_or_post() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let eve = register(addr, "evelyn").await?;
        let sid = create_group(addr, &ann, "Members only", true).await?;
        let ben_token = join_group(addr, &ben, &sid).await?;
        let other = create_group(addr, &ann, "Elsewhere", true).await?;
        let mut a = Chat::open(addr, &ann, &sid).await?;

        // Eve gets no session token for a chat she is not in.
        let token = api(addr, "sessionToken", &[("userToken", &eve.token), ("sessionid", &sid)]).await?;
        assert_eq!((errmsg(&token).as_str(), &token["sessionToken"]), ("no privilege to create session token", &Value::from("")));
        let listed = api(addr, "listMessages", &[("userToken", &eve.token), ("sessionid", &sid)]).await?;
        assert_eq!(errmsg(&listed), "no privilege in this session");
        assert_eq!((&listed["sessionToken"], &listed["messages"]), (&Value::from(""), &json!([])));

        // Nor can she use a member's session token: it is bound to Ben.
        let mut stolen = Chat { ws: Ws::connect(addr, "/ws-chat").await?, user: eve.clone(), session_token: ben_token.clone() };
        stolen.send("online", "").await?;
        assert_eq!(stolen.ws.next_of("reject").await?["content"], "no privilege to send message");
        stolen.say("let me in").await?;
        assert_eq!(stolen.ws.next_of("reject").await?["content"], "no privilege to send message");

        // A member's socket is bound to its chat: a token for another chat is refused on it.
        let other_token = str_of(&api_ok(addr, "sessionToken", &[("userToken", &ann.token), ("sessionid", &other)]).await?, "sessionToken")?;
        a.ws.send_json(&json!({"userToken": ann.token, "sessionToken": other_token, "msgType": "text", "content": "wrong room"})).await?;
        assert_eq!(a.ws.next_of("reject").await?["content"], "this connection belongs to another session");

        // Ben leaves: his open socket can no longer post, and his token no longer opens the chat.
        let mut b = Chat::open(addr, &ben, &sid).await?;
        api_ok(addr, "leaveGroupSession", &[("userToken", &ben.token), ("sessionid", &sid)]).await?;
        a.ws.next_of("leave").await?;
        b.say("after leaving").await?;
        let reject = b.ws.next_of("reject").await?;
        assert_eq!(reject["content"], "no privilege in this session");
        let mut late = Chat { ws: Ws::connect(addr, "/ws-chat").await?, user: ben.clone(), session_token: ben_token };
        late.send("online", "").await?;
        assert_eq!(late.ws.next_of("reject").await?["content"], "no privilege in this session");

        // Nothing of that reached the members or the history.
        a.say("marker").await?;
        let next = a.ws.next_json_where("the next text", |v| v["msgType"] == "text").await?;
        assert_eq!(next["content"], "marker");
        let texts: Vec<Value> = history(addr, &ann, &sid, 1, 50).await?.into_iter().filter(|m| m["msgType"] == "text").collect();
        assert_eq!(texts.len(), 1, "only the marker was stored: {texts:?}");
        assert!(history(addr, &ann, &other, 1, 50).await?.iter().all(|m| m["msgType"] != "text"));
        assert_serving(addr).await
    })
}
