//! Unit tests of thumbnails: each accepted format, sizes and aspect, EXIF orientation, and the
//! decode limits at N and N+1, including a PNG whose header claims 60000x60000 pixels.

use std::time::{Duration, Instant};

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{Frame, ImageEncoder, Rgb, RgbImage};

use super::*;

/// An image codec's error, as the crate reports image trouble.
fn image_error(e: impl std::fmt::Display) -> Error {
    Error::Image(e.to_string())
}

fn png(width: u32, height: u32) -> Result<Vec<u8>> {
    let img = RgbaImage::from_pixel(width, height, Rgba([10, 20, 30, 255]));
    encode_png(&DynamicImage::ImageRgba8(img))
}

/// A JPEG with some detail in it, so a cut one misses real entropy-coded data.
fn jpeg(width: u32, height: u32) -> Result<Vec<u8>> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 13 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .map_err(image_error)?;
    Ok(out)
}

/// Inserts an EXIF APP1 segment carrying only `Orientation` right after the JPEG's SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Result<Vec<u8>> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF, first IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let body = [b"Exif\0\0".as_slice(), &tiff].concat();
    let length = u16::try_from(body.len() + 2)
        .map_err(image_error)?
        .to_be_bytes();
    Ok([&jpeg[..2], &[0xFF, 0xE1], &length, &body, &jpeg[2..]].concat())
}

/// The CRC-32 (ISO-HDLC) of PNG chunks, bit by bit: small and obviously right.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real PNG whose IHDR is patched to claim `width`x`height`, with a valid CRC.
fn png_claiming(width: u32, height: u32) -> Result<Vec<u8>> {
    let mut bytes = png(16, 16)?;
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    Ok(bytes)
}

fn size_of_thumbnail(bytes: &[u8]) -> Result<(u32, u32)> {
    let thumb = thumbnail(bytes, &Limits::default())?;
    assert_eq!(
        ImageFormat::from_mime_type("image/png"),
        image::guess_format(&thumb).ok()
    );
    let image = decode(&thumb, &Limits::default())?;
    Ok((image.width(), image.height()))
}

#[test]
fn crc32_matches_the_png_encoder() -> Result<()> {
    let bytes = png(3, 2)?;
    assert_eq!(crc32(&bytes[12..29]).to_be_bytes(), bytes[29..33]);
    Ok(())
}

#[test]
fn png_640x480_fits_as_200x150() -> Result<()> {
    assert_eq!(size_of_thumbnail(&png(640, 480)?)?, (200, 150));
    Ok(())
}

#[test]
fn jpeg_300x600_fits_as_100x200() -> Result<()> {
    assert_eq!(size_of_thumbnail(&jpeg(300, 600)?)?, (100, 200));
    Ok(())
}

#[test]
fn jpeg_exif_orientation_is_applied() -> Result<()> {
    // 6 = rotate 90° clockwise to display: the stored 300x600 is shown 600x300.
    assert_eq!(
        size_of_thumbnail(&with_exif_orientation(&jpeg(300, 600)?, 6)?)?,
        (200, 100)
    );
    // 1 = as stored.
    assert_eq!(
        size_of_thumbnail(&with_exif_orientation(&jpeg(300, 600)?, 1)?)?,
        (100, 200)
    );
    Ok(())
}

#[test]
fn jpeg_with_a_broken_exif_still_thumbnails() -> Result<()> {
    let mut bytes = with_exif_orientation(&jpeg(300, 600)?, 6)?;
    bytes[10..14].copy_from_slice(b"XXXX"); // no longer a TIFF header
    assert_eq!(size_of_thumbnail(&bytes)?, (100, 200));
    Ok(())
}

#[test]
fn gif_first_frame_is_used() -> Result<()> {
    let red = RgbaImage::from_pixel(300, 150, Rgba([255, 0, 0, 255]));
    let blue = RgbaImage::from_pixel(300, 150, Rgba([0, 0, 255, 255]));
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder
            .encode_frames([Frame::new(red), Frame::new(blue)])
            .map_err(image_error)?;
    }
    let thumb = decode(&thumbnail(&bytes, &Limits::default())?, &Limits::default())?.to_rgba8();
    assert_eq!(thumb.dimensions(), (200, 100));
    assert_eq!(thumb.get_pixel(100, 50), &Rgba([255, 0, 0, 255]));
    Ok(())
}

#[test]
fn webp_thumbnails() -> Result<()> {
    let img = RgbaImage::from_pixel(400, 100, Rgba([0, 200, 0, 255]));
    let mut bytes = Vec::new();
    WebPEncoder::new_lossless(&mut bytes)
        .write_image(img.as_raw(), 400, 100, image::ExtendedColorType::Rgba8)
        .map_err(image_error)?;
    assert_eq!(size_of_thumbnail(&bytes)?, (200, 50));
    Ok(())
}

#[test]
fn small_images_are_not_enlarged() -> Result<()> {
    assert_eq!(size_of_thumbnail(&png(30, 10)?)?, (30, 10));
    assert_eq!(size_of_thumbnail(&png(200, 200)?)?, (200, 200));
    Ok(())
}

#[test]
fn declared_types_that_get_thumbnails() {
    for mime in ["image/jpeg", "image/png", "image/gif", "image/webp"] {
        assert!(is_thumbnailable(mime), "{mime}");
    }
    for mime in ["image/bmp", "image/svg+xml", "audio/wav", "", "IMAGE/PNG"] {
        assert!(!is_thumbnailable(mime), "{mime}");
    }
}

#[test]
fn width_and_height_limits_at_n_and_n_plus_1() -> Result<()> {
    let limits = Limits {
        max_width: 100,
        max_height: 100,
        max_pixels: u64::MAX,
        max_alloc: 1 << 20,
    };
    assert!(thumbnail(&png(100, 5)?, &limits).is_ok());
    assert!(matches!(
        thumbnail(&png(101, 5)?, &limits),
        Err(Error::Image(_))
    ));
    assert!(thumbnail(&png(5, 100)?, &limits).is_ok());
    assert!(matches!(
        thumbnail(&png(5, 101)?, &limits),
        Err(Error::Image(_))
    ));
    Ok(())
}

#[test]
fn pixel_limit_at_n_and_n_plus_1() -> Result<()> {
    let limits = Limits {
        max_width: 1000,
        max_height: 1000,
        max_pixels: 100 * 50,
        max_alloc: 1 << 20,
    };
    assert!(thumbnail(&png(100, 50)?, &limits).is_ok());
    assert!(
        matches!(thumbnail(&png(101, 50)?, &limits), Err(Error::Image(m)) if m.contains("5050 pixels"))
    );
    Ok(())
}

#[test]
fn alloc_limit_at_n_and_n_plus_1() -> Result<()> {
    // An RGBA PNG decodes into 4 bytes a pixel.
    let limits = |max_alloc| Limits {
        max_width: 1000,
        max_height: 1000,
        max_pixels: u64::MAX,
        max_alloc,
    };
    assert!(thumbnail(&png(64, 64)?, &limits(64 * 64 * 4 + 65_536)).is_ok());
    assert!(matches!(
        thumbnail(&png(64, 64)?, &limits(64 * 64 * 4 - 1)),
        Err(Error::Image(_))
    ));
    Ok(())
}

#[test]
fn png_claiming_60000x60000_is_refused_from_its_header() -> Result<()> {
    let bomb = png_claiming(60_000, 60_000)?;
    let started = Instant::now();
    // Each limit alone refuses it; were any pixel buffer allocated, it would be 14.4 GB.
    let defaults = Limits::default();
    let only_pixels = Limits {
        max_width: u32::MAX,
        max_height: u32::MAX,
        max_alloc: u64::MAX,
        ..defaults
    };
    let only_alloc = Limits {
        max_width: u32::MAX,
        max_height: u32::MAX,
        max_pixels: u64::MAX,
        ..defaults
    };
    for limits in [defaults, only_pixels, only_alloc] {
        assert!(
            matches!(thumbnail(&bomb, &limits), Err(Error::Image(_))),
            "{limits:?}"
        );
    }
    assert!(
        matches!(thumbnail(&bomb, &only_pixels), Err(Error::Image(m)) if m.contains("3600000000 pixels"))
    );
    // Generous: a header check takes microseconds, a decode of this size minutes (or an abort).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn truncated_jpeg_is_refused() -> Result<()> {
    let whole = jpeg(64, 64)?;
    for cut in [whole.len() / 2, whole.len() - 10, whole.len() - 1, 200] {
        assert!(
            matches!(
                thumbnail(&whole[..cut], &Limits::default()),
                Err(Error::Image(_))
            ),
            "cut at {cut}"
        );
    }
    Ok(())
}

#[test]
fn jpeg_completeness_walk() -> Result<()> {
    let whole = jpeg(40, 30)?;
    assert!(jpeg_is_complete(&whole));
    assert!(
        jpeg_is_complete(&[whole.as_slice(), b"trailing bytes"].concat()),
        "bytes after EOI are fine"
    );
    assert!(!jpeg_is_complete(&whole[..whole.len() - 1]));
    assert!(!jpeg_is_complete(b""));
    assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xE0\x00"));
    // An end marker inside a segment (an EXIF thumbnail's, say) does not end the image.
    let app1 = [&[0xFF, 0xE1, 0x00, 0x06][..], &[0xFF, 0xD9, 0xFF, 0xD9]].concat();
    let tricked = [&whole[..2], app1.as_slice(), &whole[2..whole.len() / 2]].concat();
    assert!(!jpeg_is_complete(&tricked));
    assert!(jpeg_is_complete(
        &[&whole[..2], app1.as_slice(), &whole[2..]].concat()
    ));
    Ok(())
}

#[test]
fn garbage_and_truncation_are_errors() -> Result<()> {
    assert!(thumbnail(b"not an image", &Limits::default()).is_err());
    assert!(thumbnail(b"", &Limits::default()).is_err());
    let whole = png(50, 50)?;
    assert!(thumbnail(&whole[..whole.len() / 2], &Limits::default()).is_err());
    // A BMP header: recognised, not accepted.
    assert!(matches!(
        thumbnail(b"BM\0\0\0\0\0\0\0\0\0\0\0\0\0\0", &Limits::default()),
        Err(Error::Image(_))
    ));
    Ok(())
}

#[test]
fn drawn_pictures_decode() -> Result<()> {
    let avatar = default_avatar([200, 100, 50]);
    let decoded = decode(&avatar, &Limits::default())?;
    assert_eq!((decoded.width(), decoded.height()), (200, 200));
    let icon = compose_icon(&[&avatar, b"junk", &avatar], &Limits::default())?;
    let decoded = decode(&icon, &Limits::default())?.to_rgba8();
    assert_eq!(
        decoded.get_pixel(150, 50),
        &Rgba([255, 255, 255, 255]),
        "junk cell stays white"
    );
    assert_ne!(decoded.get_pixel(10, 10), &Rgba([255, 255, 255, 255]));
    Ok(())
}
