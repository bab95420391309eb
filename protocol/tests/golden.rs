//! Golden tests: the examples of ../shared/cookim-api.md, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cookim_protocol::binary::{self, MARKER};
use cookim_protocol::chat::{ChatDown, ChatKind, ChatUp, FileFields, Sender, UpKind};
use cookim_protocol::push::{PushDown, PushSession, PushUp};

fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap()
        .trim_end()
        .to_owned()
}

fn alice() -> Sender {
    Sender {
        uid: "5c1a0f...".into(),
        nickname: "alice".into(),
        avatar: "5c19ab...".into(),
    }
}

#[test]
fn chat_down_examples_match_the_spec() {
    let text = ChatDown {
        sender: alice(),
        msg_type: ChatKind::Text,
        content: "hello".into(),
        file: FileFields::default(),
        dateline: "05-02 10:11:12".into(),
    };
    assert_eq!(text.to_text(), golden("chat_down_text.json"));
    let file = ChatDown {
        sender: alice(),
        msg_type: ChatKind::File,
        content: String::new(),
        file: FileFields {
            file_name: "cat.png".into(),
            file_type: "image/png".into(),
            fileid: "5c1a10...".into(),
            thumbid: "5c1a11...".into(),
        },
        dateline: "05-02 10:11:40".into(),
    };
    assert_eq!(file.to_text(), golden("chat_down_file.json"));
    assert_eq!(
        ChatDown::keepalive("05-02 10:12:30".into()).to_text(),
        golden("chat_down_keepalive.json")
    );
}

#[test]
fn chat_up_examples_parse() {
    let online = ChatUp::from_text(&golden("chat_up_online.json")).unwrap();
    assert_eq!(
        (
            online.kind,
            online.user_token.as_str(),
            online.content.as_str()
        ),
        (UpKind::Online, "<jwt>", "")
    );
    let text = ChatUp::from_text(&golden("chat_up_text.json")).unwrap();
    assert_eq!(
        (
            text.kind,
            text.session_token.as_str(),
            text.content.as_str()
        ),
        (UpKind::Text, "<jwt>", "<text>")
    );
    assert_eq!(
        PushUp::from_text(&golden("push_up.json"))
            .unwrap()
            .user_token,
        "<jwt>"
    );
}

#[test]
fn binary_header_example_round_trips() {
    let mut frame = golden("binary_header.txt").into_bytes();
    frame.extend_from_slice(MARKER);
    frame.extend_from_slice(&[7u8; 2345]);
    let upload = binary::decode(&frame, 1 << 20).unwrap();
    assert_eq!(upload.header.file_size, 2345);
    assert_eq!(upload.header.file_name.as_deref(), Some("cat.png"));
    assert_eq!(upload.payload.len(), 2345);
    assert_eq!(
        binary::encode(&upload.header, upload.payload),
        frame,
        "encode writes what JSON.stringify writes"
    );
}

#[test]
fn push_fields_are_thirteen_in_order() {
    let push = PushDown {
        sender: alice(),
        session: PushSession {
            sessionid: "s".into(),
            session_name: "n".into(),
            session_icon: "i".into(),
        },
        msg_type: ChatKind::Text,
        content: "hi".into(),
        file: FileFields::default(),
        dateline: "05-02 10:11:12".into(),
        file_info: None,
    };
    let text = push.to_text();
    let order = [
        "uid",
        "nickname",
        "avatar",
        "sessionid",
        "sessionName",
        "sessionIcon",
        "msgType",
        "content",
        "fileName",
        "fileType",
        "fileid",
        "thumbid",
        "dateline",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value.as_object().unwrap().len(), 13);
    let accept = PushDown::accept(alice(), "d".into());
    assert_eq!(
        accept.content,
        "User alice subscribe all session push accepted"
    );
}
