//! Image bombs as uploads, avatars and group icons: PNG, GIF and JPEG headers declaring
//! 60000x60000 pixels, and a real decompression bomb (a ~200 KB PNG of 8192x6400 pixels, 200
//! MB decoded). Each is refused from its header, before decoding, with a `reject` or `errmsg`.

use std::io::Cursor;

use crate::servers::{classic, online};
use crate::support::canary::{chat_works, next_reject};
use crate::support::files::png_claiming;
use crate::support::fixtures::{errmsg, gif, jpeg};
use crate::support::http::{FilePart, api_multipart};
use crate::support::net::register_fresh;
use crate::support::{Result, fail, run};

/// A 16x16 GIF whose screen and image descriptor claim `width`x`height`.
fn gif_claiming(width: u16, height: u16) -> Result<Vec<u8>> {
    let mut bytes = gif(16, 16);
    if bytes.get(..6) != Some(b"GIF89a".as_slice()) && bytes.get(..6) != Some(b"GIF87a".as_slice())
    {
        return fail("not a GIF");
    }
    bytes[6..8].copy_from_slice(&width.to_le_bytes());
    bytes[8..10].copy_from_slice(&height.to_le_bytes());
    // The image descriptor (0x2C): left, top, then width and height.
    if let Some(at) = bytes.iter().position(|&b| b == 0x2c) {
        bytes[at + 5..at + 7].copy_from_slice(&width.to_le_bytes());
        bytes[at + 7..at + 9].copy_from_slice(&height.to_le_bytes());
    }
    Ok(bytes)
}

/// A 16x16 JPEG whose SOF0 claims `width`x`height`.
fn jpeg_claiming(width: u16, height: u16) -> Result<Vec<u8>> {
    let mut bytes = jpeg(16, 16);
    let Some(at) = bytes.windows(2).position(|w| w == [0xff, 0xc0]) else {
        return fail("no SOF0 in the JPEG");
    };
    // FFC0, length (2), precision (1), height (2), width (2).
    bytes[at + 5..at + 7].copy_from_slice(&height.to_be_bytes());
    bytes[at + 7..at + 9].copy_from_slice(&width.to_be_bytes());
    Ok(bytes)
}

/// A real decompression bomb: 8192x6400 RGBA of zeros (about 200 MiB decoded, 52 megapixels),
/// streamed row by row so the test never holds it; about 200 KiB compressed.
fn png_bomb() -> Result<Vec<u8>> {
    let (width, height) = (8192u32, 6400u32);
    let mut out = Cursor::new(Vec::new());
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer()?;
    let row = vec![0u8; width as usize * 4];
    for _ in 0..height {
        std::io::Write::write_all(&mut stream, &row)?;
    }
    stream.finish()?;
    writer.finish()?;
    Ok(out.into_inner())
}

async fn upload_refused(bytes: Vec<u8>, file_type: &str, what: &str) -> Result {
    let node = classic()?;
    let mut chat = online(node, "bomber").await?;
    chat.upload(Some("picture"), file_type, &bytes).await?;
    let content = next_reject(&mut chat.ws, what).await?;
    if content.is_empty() {
        return fail(format!("the reject of {what} says nothing"));
    }
    chat.ws.close().await?;
    chat_works(node, what).await
}

async fn avatar_refused(bytes: Vec<u8>, content_type: &str, what: &str) -> Result {
    let node = classic()?;
    let user = register_fresh(node.addr, "avatarist").await?;
    let answer = api_multipart(
        node.addr,
        "updateUser",
        &[
            ("userToken", &user.token),
            ("nickname", "avatarist"),
            ("gender", "1"),
        ],
        Some(FilePart {
            field: "avatar",
            file_name: "me",
            content_type,
            bytes: &bytes,
        }),
    )
    .await?;
    if errmsg(&answer).is_empty() {
        return fail(format!("{what} was accepted as an avatar: {answer}"));
    }
    chat_works(node, what).await
}

#[test]
fn a_png_upload_claiming_60000x60000_is_rejected() -> Result {
    run(async {
        upload_refused(
            png_claiming(60_000, 60_000)?,
            "image/png",
            "a PNG claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_gif_upload_claiming_60000x60000_is_rejected() -> Result {
    run(async {
        upload_refused(
            gif_claiming(60_000, 60_000)?,
            "image/gif",
            "a GIF claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_jpeg_upload_claiming_60000x60000_is_rejected() -> Result {
    run(async {
        upload_refused(
            jpeg_claiming(60_000, 60_000)?,
            "image/jpeg",
            "a JPEG claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_png_decompression_bomb_upload_is_rejected() -> Result {
    run(async { upload_refused(png_bomb()?, "image/png", "a PNG decompression bomb").await })
}

#[test]
fn a_png_avatar_claiming_60000x60000_is_refused() -> Result {
    run(async {
        avatar_refused(
            png_claiming(60_000, 60_000)?,
            "image/png",
            "a PNG avatar claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_gif_avatar_claiming_60000x60000_is_refused() -> Result {
    run(async {
        avatar_refused(
            gif_claiming(60_000, 60_000)?,
            "image/gif",
            "a GIF avatar claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_jpeg_avatar_claiming_60000x60000_is_refused() -> Result {
    run(async {
        avatar_refused(
            jpeg_claiming(60_000, 60_000)?,
            "image/jpeg",
            "a JPEG avatar claiming 60000x60000",
        )
        .await
    })
}

#[test]
fn a_png_decompression_bomb_avatar_is_refused() -> Result {
    run(async { avatar_refused(png_bomb()?, "image/png", "a PNG decompression bomb avatar").await })
}

#[test]
fn a_png_decompression_bomb_group_icon_is_refused() -> Result {
    let node = classic()?;
    run(async {
        let user = register_fresh(node.addr, "iconist").await?;
        let bomb = png_bomb()?;
        let answer = api_multipart(
            node.addr,
            "createGroupSession",
            &[
                ("userToken", &user.token),
                ("sessionName", "bomb group"),
                ("publicType", "1"),
            ],
            Some(FilePart {
                field: "sessionIcon",
                file_name: "icon.png",
                content_type: "image/png",
                bytes: &bomb,
            }),
        )
        .await?;
        if errmsg(&answer).is_empty() {
            return fail(format!(
                "a decompression bomb became a group icon: {answer}"
            ));
        }
        chat_works(node, "a bomb as group icon").await
    })
}
