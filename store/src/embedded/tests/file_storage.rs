//! File bytes on disk: one blob per distinct content, crash debris, damage.

use super::*;

#[test]
fn a_blob_is_named_by_the_sha256_of_its_bytes() {
    // The FIPS 180-2 test vector.
    assert_eq!(
        blobs::BlobHash::of(b"abc").as_str(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(blobs::BlobHash::parse(blobs::BlobHash::of(b"").as_str()).is_some());
    for bad in ["../../etc/passwd", "", &"A".repeat(64), &"0".repeat(63)] {
        assert!(blobs::BlobHash::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn a_written_file_leaves_no_temporary() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        store.put_file(upload(&file_id(0xab), b"payload")).await?;
        assert_eq!(
            entries(dir.path(), BLOBS_DIR)?,
            vec![blob_entry(b"payload")]
        );
        Ok(())
    })
}

#[test]
fn identical_bytes_are_one_blob_on_disk() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let picture: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        store.put_file(upload(&file_id(1), &picture)).await?;
        let blob = blobs::path_of(&dir.path().join(BLOBS_DIR), &blobs::BlobHash::of(&picture));
        let written = fs::metadata(&blob)?;
        let mut again = upload(&file_id(2), &picture);
        again.file_name = "the same picture.png".to_owned();
        store.put_file(again).await?;
        store.put_file(upload(&file_id(3), b"other")).await?;

        let mut expected = vec![blob_entry(&picture), blob_entry(b"other")];
        expected.sort();
        assert_eq!(entries(dir.path(), BLOBS_DIR)?, expected);
        #[cfg(unix)]
        {
            // Not even rewritten: a rename would have put a new inode in its place.
            use std::os::unix::fs::MetadataExt;
            assert_eq!(fs::metadata(&blob)?.ino(), written.ino());
        }
        #[cfg(not(unix))]
        let _ = written;
        for id in [file_id(1), file_id(2)] {
            assert_eq!(
                store.file(&id).await?.map(|(_, b)| b),
                Some(picture.clone())
            );
        }
        assert_eq!(
            store.file_meta(&file_id(2)).await?.map(|m| m.file_name),
            Some("the same picture.png".to_owned())
        );
        let rows: i64 =
            lock(&store.conn)?.query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))?;
        assert_eq!(rows, 2);
        Ok(())
    })
}

#[test]
fn crash_debris_is_never_visible_and_temporaries_are_swept() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let blobs_dir = dir.path().join(BLOBS_DIR);
        let real = b"the real one";
        let hash = blobs::BlobHash::of(real);
        let shard = blobs_dir.join(&hash.as_str()[..2]);
        fs::create_dir_all(&shard)?;

        // A crash during the write: only a temporary exists.
        let temp = shard.join(format!(".{hash}.0123456789abcdef.tmp"));
        fs::write(&temp, b"the re")?;
        assert!(blobs::is_temporary(
            &temp.file_name().unwrap_or_default().to_string_lossy()
        ));
        // A crash after the rename, before the rows (here with the wrong bytes, which no row
        // vouches for).
        fs::write(blobs::path_of(&blobs_dir, &hash), b"debris")?;
        assert!(store.file(&file_id(0xcd)).await?.is_none());
        assert!(
            store
                .read_file_chunk(&file_id(0xcd), 0, 10)
                .await?
                .is_none()
        );
        drop(store);

        let store = Embedded::open(dir.path()).await?;
        assert!(!temp.exists(), "temporary swept at open");
        // Uploading those bytes for real replaces the unvouched blob file.
        store.put_file(upload(&file_id(0xef), real)).await?;
        assert_eq!(
            store.file(&file_id(0xef)).await?.map(|(_, bytes)| bytes),
            Some(real.to_vec())
        );
        Ok(())
    })
}

#[test]
fn missing_or_truncated_bytes_are_corrupt() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let id = file_id(0x12);
        store.put_file(upload(&id, b"0123456789")).await?;
        let path = blobs::path_of(
            &dir.path().join(BLOBS_DIR),
            &blobs::BlobHash::of(b"0123456789"),
        );
        fs::write(&path, b"01234")?;
        assert!(matches!(store.file(&id).await, Err(Error::Corrupt(_))));
        assert_eq!(
            store.read_file_chunk(&id, 1, 3).await?,
            Some(b"123".to_vec())
        );
        let short = store.read_file_chunk(&id, 3, 100).await;
        assert!(matches!(short, Err(Error::Corrupt(_))), "{short:?}");
        fs::remove_file(&path)?;
        assert!(matches!(store.file(&id).await, Err(Error::Corrupt(_))));
        let gone = store.read_file_chunk(&id, 0, 1).await;
        assert!(matches!(gone, Err(Error::Corrupt(_))), "{gone:?}");
        // Past the end there is nothing to read, so nothing to miss.
        assert_eq!(store.read_file_chunk(&id, 10, 1).await?, Some(Vec::new()));
        Ok(())
    })
}

#[test]
fn the_next_upload_of_the_same_bytes_heals_a_damaged_blob() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        store.put_file(upload(&file_id(1), b"precious")).await?;
        let hash = blobs::BlobHash::of(b"precious");
        fs::remove_file(blobs::path_of(&dir.path().join(BLOBS_DIR), &hash))?;
        store.put_file(upload(&file_id(2), b"precious")).await?;
        for id in [file_id(1), file_id(2)] {
            assert_eq!(
                store.file(&id).await?.map(|(_, b)| b),
                Some(b"precious".to_vec())
            );
        }
        Ok(())
    })
}
