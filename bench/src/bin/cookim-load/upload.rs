//! The upload profile: members upload files (thumbnailed images) while a chat runs, and the
//! chat's latency is measured meanwhile.

use super::*;

/// A noisy RGB PNG of about `bytes` bytes (noise does not compress), for thumbnail work.
fn noise_png(bytes: usize) -> Result<Vec<u8>> {
    let side = ((bytes / 3) as f64).sqrt() as u32;
    let pixels: Vec<u8> = (0..side * side * 3).map(|_| rand::random::<u8>()).collect();
    let image = image::RgbImage::from_raw(side, side, pixels)
        .ok_or_else(|| Error::Http("image buffer".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Http(e.to_string()))?;
    Ok(out.into_inner())
}

/// Sends `count` uploads from each uploader and waits for every echo; returns the seconds from
/// the first send to the last echo.
type Halves = (
    User,
    String,
    async_tungstenite::WebSocketSender<async_net::TcpStream>,
    async_tungstenite::WebSocketReceiver<async_net::TcpStream>,
);

async fn upload_phase(
    group: &mut Vec<Halves>,
    uploaders: usize,
    count: usize,
    file_type: &str,
    payload: &[u8],
) -> Result<f64> {
    let started = Instant::now();
    let mut jobs = Vec::new();
    let mut readers = Vec::new();
    let members = std::mem::take(group);
    for (i, (user, session_token, mut sink, mut stream)) in members.into_iter().enumerate() {
        let expected = uploaders * count;
        // Every member reads every upload (uploads come back to the uploader as its echo).
        readers.push(smol::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                let Some(value) = next_value(&mut stream).await? else {
                    break;
                };
                match value["msgType"].as_str() {
                    Some("file") => seen += 1,
                    Some("reject") => {
                        return Err(Error::Http(format!(
                            "upload rejected: {}",
                            value["content"]
                        )));
                    }
                    _ => {}
                }
            }
            Ok(stream)
        }));
        if i < uploaders {
            let header = protocol::binary::BinaryHeader {
                user_token: user.token.clone(),
                session_token: session_token.clone(),
                msg_type: "file".into(),
                file_name: Some(format!("load-{i}.bin")),
                file_size: payload.len() as u64,
                file_type: file_type.to_owned(),
                reply_to: None,
            };
            let mut frame = protocol::binary::encode(&header, payload);
            // Plain files get distinct bytes (the store keeps identical bytes once, which would
            // flatter the figure); images stay valid and are thumbnailed every time anyway.
            let distinct = !file_type.starts_with("image/") && payload.len() >= 16;
            jobs.push(smol::spawn(async move {
                for n in 0..count {
                    if distinct {
                        let tail = frame.len() - 16;
                        let stamp = [(i as u64).to_le_bytes(), (n as u64).to_le_bytes()].concat();
                        frame[tail..].copy_from_slice(&stamp);
                    }
                    sink.send(async_tungstenite::tungstenite::Message::Binary(
                        frame.clone().into(),
                    ))
                    .await?;
                }
                Ok::<_, Error>((user, session_token, sink))
            }));
        } else {
            jobs.push(smol::spawn(async move { Ok((user, session_token, sink)) }));
        }
    }
    let mut halves = Vec::new();
    for job in jobs {
        halves.push(job.await?);
    }
    let mut streams = Vec::new();
    for reader in readers {
        streams.push(reader.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    for ((user, token, sink), stream) in halves.into_iter().zip(streams) {
        group.push((user, token, sink, stream));
    }
    Ok(elapsed)
}

pub(crate) async fn upload(args: Upload) -> Result<Value> {
    let addr = args.addr;
    progress(&format!(
        "registering {} users for \"uploads\"",
        args.members
    ));
    let (_, uploads) = online_group(addr, args.members, "uploads", &[]).await?;
    let mut uploads: Vec<Halves> = uploads
        .into_iter()
        .map(|(user, token, socket)| {
            let (sink, stream) = socket.split();
            (user, token, sink, stream)
        })
        .collect();
    progress("registering 10 users for \"chat\"");
    let (_, chat) = online_group(addr, 10, "chat", &[]).await?;
    let chat = background_chat(
        chat,
        ChatOptions {
            rate: args.chat_rate as f64,
            time_echo: true,
        },
    )?;
    let file: Vec<u8> = (0..args.size_kib * 1024)
        .map(|_| rand::random::<u8>())
        .collect();
    let uploaders = args.uploaders.clamp(1, args.members);
    progress(&format!(
        "{uploaders} uploaders x {} files of {} KiB",
        args.files, args.size_kib
    ));
    chat.take();
    let files_secs = upload_phase(
        &mut uploads,
        uploaders,
        args.files,
        "application/octet-stream",
        &file,
    )
    .await?;
    let chat_during_files = chat.take().latency;
    let image = noise_png(args.size_kib * 1024)?;
    progress(&format!(
        "{uploaders} uploaders x {} PNG images of {} KiB",
        args.files,
        image.len() / 1024
    ));
    let images_secs =
        upload_phase(&mut uploads, uploaders, args.files, "image/png", &image).await?;
    let chat_during_images = chat.take().latency;
    chat.stop();
    drop(chat);
    let total_files = (uploaders * args.files) as f64;
    Ok(json!({
        "profile": "upload",
        "members": args.members,
        "uploaders": uploaders,
        "files_per_uploader": args.files,
        "file_bytes": file.len(),
        "upload_seconds": files_secs,
        "upload_mb_per_s": total_files * file.len() as f64 / files_secs / 1e6,
        "deliveries_mb_per_s": total_files * file.len() as f64 * args.members as f64 / files_secs / 1e6,
        "image_bytes": image.len(),
        "image_seconds": images_secs,
        "thumbnails_per_s": total_files / images_secs,
        "chat_rate": args.chat_rate,
        "chat_latency_during_files": chat_during_files,
        "chat_latency_during_images": chat_during_images,
    }))
}
