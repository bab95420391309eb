//! Files and default avatars.

use super::*;

pub(crate) async fn files_round_trip_byte_exact(store: &dyn Store) -> Result<()> {
    let owner = user(store).await?;
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(70_001).collect();
    for bytes in [every_byte, Vec::new()] {
        let file = NewFile {
            id: fid(),
            file_name: "photo 1.png".to_owned(),
            file_type: "image/png".to_owned(),
            owner: FileOwner::User(owner.id.clone()),
            dateline: 7_000,
            bytes: bytes.clone(),
        };
        let meta = store.put_file(file.clone()).await?;
        let expected = FileMeta {
            id: file.id.clone(),
            file_name: file.file_name.clone(),
            file_type: file.file_type.clone(),
            size: u64::try_from(bytes.len()).expect("fits"),
            owner: file.owner.clone(),
            dateline: 7_000,
        };
        assert_eq!(meta, expected);
        assert_eq!(store.file_meta(&file.id).await?, Some(expected.clone()));
        assert_eq!(store.file(&file.id).await?, Some((expected, bytes)));

        let again = store.put_file(file).await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    }
    assert_eq!(store.file_meta(&fid()).await?, None);
    assert_eq!(store.file(&fid()).await?, None);
    Ok(())
}

pub(crate) async fn default_avatars_are_seeded_once(store: &dyn Store) -> Result<()> {
    for kind in [AvatarKind::Boy, AvatarKind::Girl, AvatarKind::Unknown] {
        assert_eq!(store.default_avatar(kind).await?, None, "not seeded yet");
        let avatar = NewFile {
            id: fid(),
            file_name: format!("{}.jpg", kind.as_str()),
            file_type: "image/jpeg".to_owned(),
            owner: FileOwner::DefaultAvatar(kind),
            dateline: 0,
            bytes: kind.as_str().as_bytes().to_vec(),
        };
        let meta = store.put_file(avatar.clone()).await?;
        assert_eq!(meta.owner, FileOwner::DefaultAvatar(kind));
        assert_eq!(store.default_avatar(kind).await?, Some(avatar.id.clone()));
        assert_eq!(
            store
                .file(&avatar.id)
                .await?
                .map(|(meta, bytes)| (meta.owner, bytes)),
            Some((FileOwner::DefaultAvatar(kind), avatar.bytes))
        );
    }
    let boy = store.default_avatar(AvatarKind::Boy).await?;
    let second = NewFile {
        id: fid(),
        file_name: "boy.jpg".to_owned(),
        file_type: "image/jpeg".to_owned(),
        owner: FileOwner::DefaultAvatar(AvatarKind::Boy),
        dateline: 1,
        bytes: b"another boy".to_vec(),
    };
    let refused = store.put_file(second.clone()).await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
    assert_eq!(
        store.default_avatar(AvatarKind::Boy).await?,
        boy,
        "the first stays"
    );
    assert_eq!(store.file_meta(&second.id).await?, None);
    Ok(())
}

pub(crate) async fn identical_bytes_are_two_files(store: &dyn Store) -> Result<()> {
    let (alice, bob) = (user(store).await?, user(store).await?);
    let bytes: Vec<u8> = (0..20_000).map(|_| rand::random::<u8>()).collect();
    let upload = |owner: &User, name: &str| NewFile {
        id: fid(),
        file_name: name.to_owned(),
        file_type: "application/octet-stream".to_owned(),
        owner: FileOwner::User(owner.id.clone()),
        dateline: 8_000,
        bytes: bytes.clone(),
    };
    let first = store.put_file(upload(&alice, "a.bin")).await?;
    let second = store.put_file(upload(&bob, "b.bin")).await?;
    assert_ne!(first.id, second.id);
    for (meta, owner, name) in [(&first, &alice, "a.bin"), (&second, &bob, "b.bin")] {
        let (stored, read) = store.file(&meta.id).await?.expect("stored");
        assert_eq!(stored, *meta);
        assert_eq!(
            (stored.owner, stored.file_name.as_str()),
            (FileOwner::User(owner.id.clone()), name)
        );
        assert_eq!(read, bytes);
        let size = usize::try_from(meta.size).expect("fits");
        assert_eq!(
            store.read_file_chunk(&meta.id, 0, size).await?,
            Some(bytes.clone())
        );
    }
    Ok(())
}

pub(crate) async fn file_chunks_are_exact_slices(store: &dyn Store) -> Result<()> {
    let owner = user(store).await?;
    let bytes: Vec<u8> = (0..1_000u32).map(|i| (i % 256) as u8).collect();
    let file = NewFile {
        id: fid(),
        file_name: "slices.bin".to_owned(),
        file_type: String::new(),
        owner: FileOwner::User(owner.id.clone()),
        dateline: 9_000,
        bytes: bytes.clone(),
    };
    store.put_file(file.clone()).await?;
    let chunk = |offset: u64, max_len: usize| store.read_file_chunk(&file.id, offset, max_len);

    assert_eq!(chunk(0, 10).await?, Some(bytes[..10].to_vec()), "start");
    assert_eq!(
        chunk(500, 7).await?,
        Some(bytes[500..507].to_vec()),
        "middle"
    );
    assert_eq!(
        chunk(995, 64).await?,
        Some(bytes[995..].to_vec()),
        "runs into the end"
    );
    assert_eq!(
        chunk(0, 1 << 20).await?,
        Some(bytes.clone()),
        "larger than the file"
    );
    assert_eq!(chunk(1_000, 64).await?, Some(Vec::new()), "at the end");
    assert_eq!(chunk(5_000, 64).await?, Some(Vec::new()), "past the end");
    assert_eq!(
        chunk(u64::MAX, 64).await?,
        Some(Vec::new()),
        "far past the end"
    );
    assert_eq!(chunk(10, 0).await?, Some(Vec::new()), "nothing asked");
    assert_eq!(
        store.read_file_chunk(&fid(), 0, 64).await?,
        None,
        "unknown id"
    );

    let empty = NewFile {
        id: fid(),
        bytes: Vec::new(),
        ..file
    };
    store.put_file(empty.clone()).await?;
    assert_eq!(
        store.read_file_chunk(&empty.id, 0, 64).await?,
        Some(Vec::new()),
        "an empty file exists and is empty"
    );
    Ok(())
}

pub(crate) async fn a_large_file_streams_back_in_chunks(store: &dyn Store) -> Result<()> {
    const CHUNK: usize = 7 * 1024;
    let owner = user(store).await?;
    let bytes: Vec<u8> = (0..100_000).map(|_| rand::random::<u8>()).collect();
    let id = fid();
    store
        .put_file(NewFile {
            id: id.clone(),
            file_name: "random.bin".to_owned(),
            file_type: "application/octet-stream".to_owned(),
            owner: FileOwner::User(owner.id),
            dateline: 10_000,
            bytes: bytes.clone(),
        })
        .await?;
    let mut streamed = Vec::new();
    let mut chunks = 0;
    loop {
        let offset = u64::try_from(streamed.len()).expect("fits");
        let chunk = store
            .read_file_chunk(&id, offset, CHUNK)
            .await?
            .expect("exists");
        if chunk.is_empty() {
            break;
        }
        assert!(chunk.len() == CHUNK || streamed.len() + chunk.len() == bytes.len());
        streamed.extend(chunk);
        chunks += 1;
    }
    assert_eq!(chunks, bytes.len().div_ceil(CHUNK));
    assert!(streamed == bytes, "streamed bytes differ from the upload");
    Ok(())
}
