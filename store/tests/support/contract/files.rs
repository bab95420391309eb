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
