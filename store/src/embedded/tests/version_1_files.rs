//! Schema step 2 on a data directory version 1 left: its files move into blobs, crash-safely.

use super::*;

/// A data directory exactly as version 1 left it: schema step 1 only, one row per file and its
/// bytes under `files/<2>/<id>` (`None`: the row without bytes). Plus the debris version 1
/// could leave: a complete file without a row and a temporary.
fn version_1_dir(dir: &Path, files: &[(FileId, Option<&[u8]>)]) -> Result<()> {
    let mut conn = Connection::open(dir.join(DB_FILE))?;
    schema::migrate(&mut conn, dir, &schema::MIGRATIONS[..1])?;
    let legacy_dir = dir.join(legacy::LEGACY_DIR);
    for (id, bytes) in files {
        conn.execute(
            "INSERT INTO files (id, file_name, file_type, size, owner_uid, default_avatar, \
             dateline) VALUES (?1, 'v1.bin', 'application/octet-stream', ?2, ?3, NULL, 9)",
            rusqlite::params![
                id.as_str(),
                bytes.map_or(4, <[u8]>::len) as i64,
                uid(1).as_str()
            ],
        )?;
        if let Some(bytes) = bytes {
            let path = legacy::path_of(&legacy_dir, id);
            fs::create_dir_all(path.parent().unwrap_or(&legacy_dir))?;
            fs::write(path, bytes)?;
        }
    }
    let orphan = legacy::path_of(&legacy_dir, &file_id(0x99));
    fs::create_dir_all(orphan.parent().unwrap_or(&legacy_dir))?;
    fs::write(&orphan, b"never had a row")?;
    fs::write(
        orphan.with_file_name(format!(".{}.0123456789abcdef.tmp", file_id(0x99))),
        b"half",
    )?;
    Ok(())
}

#[test]
fn version_1_files_move_into_blobs_and_stay_readable() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        version_1_dir(
            dir.path(),
            &[
                (file_id(1), Some(b"twice")),
                (file_id(2), Some(b"twice")),
                (file_id(3), Some(&big)),
                (file_id(4), None),
            ],
        )?;

        let store = Embedded::open(dir.path()).await?;
        assert_eq!(
            schema::user_version(&*lock(&store.conn)?)?,
            schema::MIGRATIONS.len()
        );
        for id in [file_id(1), file_id(2)] {
            let (meta, bytes) = store.file(&id).await?.expect("migrated");
            assert_eq!(
                (meta.file_name.as_str(), bytes),
                ("v1.bin", b"twice".to_vec())
            );
        }
        assert_eq!(
            store.file(&file_id(3)).await?.map(|(_, b)| b),
            Some(big.clone())
        );
        assert_eq!(
            store.read_file_chunk(&file_id(3), 99_990, 64).await?,
            Some(big[99_990..].to_vec())
        );
        // The row without bytes is as it was: metadata, and an error for the bytes.
        assert!(store.file_meta(&file_id(4)).await?.is_some());
        assert!(matches!(
            store.file(&file_id(4)).await,
            Err(Error::Corrupt(_))
        ));
        assert!(
            store.file(&file_id(0x99)).await?.is_none(),
            "debris stays unserved"
        );

        let mut expected = vec![blob_entry(b"twice"), blob_entry(&big)];
        expected.sort();
        assert_eq!(entries(dir.path(), BLOBS_DIR)?, expected);
        assert!(
            !dir.path().join(legacy::LEGACY_DIR).exists(),
            "files/ removed"
        );

        // New uploads of migrated bytes share their blob; a reopen migrates nothing again.
        store.put_file(upload(&file_id(5), b"twice")).await?;
        assert_eq!(entries(dir.path(), BLOBS_DIR)?, expected);
        drop(store);
        let store = Embedded::open(dir.path()).await?;
        assert_eq!(
            store.file(&file_id(5)).await?.map(|(_, b)| b),
            Some(b"twice".to_vec())
        );
        assert_eq!(store.file(&file_id(3)).await?.map(|(_, b)| b), Some(big));
        Ok(())
    })
}

#[test]
fn an_interrupted_move_keeps_version_1_and_is_redone() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        version_1_dir(dir.path(), &[(file_id(1), Some(b"kept"))])?;

        // Step 2 does all its work, then fails before committing: like a crash, it rolls back.
        let failing = schema::Step::Code(|tx, data_dir| {
            if let schema::Step::Code(v2) = schema::MIGRATIONS[1] {
                v2(tx, data_dir)?;
            }
            Err(Error::Unavailable)
        });
        let refused = open_connection(dir.path(), &[schema::MIGRATIONS[0], failing]);
        assert!(matches!(refused, Err(Error::Unavailable)), "{refused:?}");
        let conn = Connection::open(dir.path().join(DB_FILE))?;
        assert_eq!(schema::user_version(&conn)?, 1);
        drop(conn);
        let original = legacy::path_of(&dir.path().join(legacy::LEGACY_DIR), &file_id(1));
        assert_eq!(
            fs::read(&original)?,
            b"kept",
            "nothing deleted before the commit"
        );
        // Make the blob the failed attempt left unvouched debris with the wrong bytes.
        let blob = blobs::path_of(&dir.path().join(BLOBS_DIR), &blobs::BlobHash::of(b"kept"));
        fs::remove_file(&blob)?;
        fs::write(&blob, b"junk")?;

        let store = Embedded::open(dir.path()).await?;
        assert_eq!(
            store.file(&file_id(1)).await?.map(|(_, b)| b),
            Some(b"kept".to_vec())
        );
        assert!(!original.exists());
        Ok(())
    })
}
