//! Thumbnails (§7.2 of the spec): decode with limits, scale down to fit 200x200 keeping the
//! aspect ratio (never enlarge), re-encode as PNG. Plus the pictures cookim draws itself:
//! default avatars and the 2x2 icon of a group made from a private chat (§7.4).
//!
//! Decoding is bounded by [`Limits`] before any pixel buffer is allocated, so a small file
//! that claims 60000x60000 pixels is refused instead of decoded.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Rgba, RgbaImage};

use crate::error::{Error, Result};

/// Thumbnails fit in a square of this side.
pub const THUMB_SIDE: u32 = 200;

/// Decode limits for untrusted images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Widest image decoded, in pixels.
    pub max_width: u32,
    /// Tallest image decoded, in pixels.
    pub max_height: u32,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

impl Default for Limits {
    /// 8192x8192 pixels and 256 MiB: a 48 MP phone photo decodes; a bomb does not.
    fn default() -> Self {
        Limits { max_width: 8192, max_height: 8192, max_alloc: 256 * 1024 * 1024 }
    }
}

/// Whether a declared MIME type gets a thumbnail (the type the browser reported, not sniffed).
pub fn is_thumbnailable(declared_type: &str) -> bool {
    matches!(declared_type, "image/jpeg" | "image/png" | "image/gif")
}

/// Decodes an image (GIF: first frame) within `limits`.
///
/// # Errors
/// [`Error::Image`] if the bytes are not a supported image, are truncated, or exceed a limit.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    let format = reader.format().ok_or_else(|| Error::Image("unknown image format".into()))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) {
        return Err(Error::Image(format!("{format:?} images are not accepted")));
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    reader.decode().map_err(|e| Error::Image(e.to_string()))
}

/// Makes a PNG thumbnail that fits in 200x200.
///
/// # Errors
/// [`Error::Image`] as [`decode`], or if encoding fails.
pub fn thumbnail(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    let image = decode(bytes, limits)?;
    encode_png(&fit(&image, THUMB_SIDE))
}

/// Scales down to fit a `side`-pixel square, keeping the aspect ratio; never enlarges.
fn fit(image: &DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        image.clone()
    } else {
        image.resize(side, side, FilterType::Triangle)
    }
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).map_err(|e| Error::Image(e.to_string()))?;
    Ok(out.into_inner())
}

/// Draws a default avatar: a 200x200 PNG head-and-shoulders silhouette on a background of
/// `color` (RGB). cookim ships no image files; these are drawn at start-up.
pub fn default_avatar(color: [u8; 3]) -> Vec<u8> {
    let side = THUMB_SIDE as i64;
    let background = Rgba([color[0], color[1], color[2], 255]);
    let figure = Rgba([255, 255, 255, 230]);
    let picture = RgbaImage::from_fn(THUMB_SIDE, THUMB_SIDE, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        let head = (x - side / 2).pow(2) + (y - 78).pow(2) <= 36 * 36;
        let body = (x - side / 2).pow(2) + (y - 200).pow(2) <= 72 * 72;
        if head || body { figure } else { background }
    });
    // Encoding an in-memory RGBA image as PNG only fails on allocation failure.
    encode_png(&DynamicImage::ImageRgba8(picture)).unwrap_or_default()
}

/// The icon of a group created from a private chat (§7.4): a white 200x200 canvas with up to
/// four pictures, each scaled and centre-cropped to cover 90x90, in a 2x2 grid. Pictures that
/// do not decode leave their cell white.
///
/// # Errors
/// [`Error::Image`] if the PNG cannot be encoded.
pub fn compose_icon(pictures: &[&[u8]], limits: &Limits) -> Result<Vec<u8>> {
    let mut canvas = RgbaImage::from_pixel(THUMB_SIDE, THUMB_SIDE, Rgba([255, 255, 255, 255]));
    for (i, bytes) in pictures.iter().take(4).enumerate() {
        let Ok(image) = decode(bytes, limits) else { continue };
        let cell = image.resize_to_fill(90, 90, FilterType::Triangle).to_rgba8();
        let i = i as i64;
        image::imageops::overlay(&mut canvas, &cell, (i % 2) * 100 + 5, (i / 2) * 100 + 5);
    }
    encode_png(&DynamicImage::ImageRgba8(canvas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbaImage::from_pixel(width, height, Rgba([10, 20, 30, 255]));
        encode_png(&DynamicImage::ImageRgba8(img)).unwrap()
    }

    #[test]
    fn scales_down_keeping_aspect() -> Result<()> {
        let thumb = thumbnail(&png(640, 480), &Limits::default())?;
        let image = decode(&thumb, &Limits::default())?;
        assert_eq!((image.width(), image.height()), (200, 150));
        Ok(())
    }

    #[test]
    fn small_images_are_not_enlarged() -> Result<()> {
        let image = decode(&thumbnail(&png(30, 10), &Limits::default())?, &Limits::default())?;
        assert_eq!((image.width(), image.height()), (30, 10));
        Ok(())
    }

    #[test]
    fn limits_refuse_large_dimensions() {
        let limits = Limits { max_width: 100, max_height: 100, max_alloc: 1 << 20 };
        assert!(matches!(thumbnail(&png(101, 5), &limits), Err(Error::Image(_))));
        assert!(thumbnail(&png(100, 5), &limits).is_ok());
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(thumbnail(b"not an image", &Limits::default()).is_err());
        let whole = png(50, 50);
        assert!(thumbnail(&whole[..whole.len() / 2], &Limits::default()).is_err());
    }

    #[test]
    fn drawn_pictures_decode() -> Result<()> {
        let avatar = default_avatar([200, 100, 50]);
        let decoded = decode(&avatar, &Limits::default())?;
        assert_eq!((decoded.width(), decoded.height()), (200, 200));
        let icon = compose_icon(&[&avatar, b"junk", &avatar], &Limits::default())?;
        let decoded = decode(&icon, &Limits::default())?.to_rgba8();
        assert_eq!(decoded.get_pixel(150, 50), &Rgba([255, 255, 255, 255]), "junk cell stays white");
        assert_ne!(decoded.get_pixel(10, 10), &Rgba([255, 255, 255, 255]));
        Ok(())
    }
}
