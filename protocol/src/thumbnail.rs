//! Thumbnails (§7.2 of the spec): decode with limits, turn upright by the EXIF orientation,
//! scale down to fit 200x200 keeping the aspect ratio (never enlarge), re-encode as PNG. Plus
//! the pictures cookim draws itself: default avatars and the 2x2 icon of a group made from a
//! private chat (§7.4).
//!
//! JPEG, PNG, GIF (first frame) and WebP are accepted. Decoding is bounded by [`Limits`],
//! checked against the dimensions in the image's header before any pixel buffer is allocated,
//! so a small file that claims 60000x60000 pixels is refused instead of decoded.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Rgba, RgbaImage};

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
    /// Most pixels (width times height) decoded: a square within the width and height limits
    /// can still be far more than a photo needs.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate, the decoded image included.
    pub max_alloc: u64,
}

impl Default for Limits {
    /// At most 8192 pixels a side, [`Limits::DEFAULT_MAX_PIXELS`] in all, and 256 MiB.
    fn default() -> Self {
        Limits {
            max_width: 8192,
            max_height: 8192,
            max_pixels: Limits::DEFAULT_MAX_PIXELS,
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// 50 megapixels: a full-resolution 48 MP (8000x6000) phone photo decodes (192 MB as
    /// RGBA, within the default 256 MiB), while a full 8192x8192 square (67 MP) does not.
    /// A refused image is refused as an upload, so this must cover the cameras people use.
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

    /// Checks an image's declared dimensions against the limits.
    ///
    /// # Errors
    /// [`Error::Image`] naming the limit that is exceeded.
    pub fn check_dimensions(&self, width: u32, height: u32) -> Result<()> {
        if width > self.max_width || height > self.max_height {
            return Err(Error::Image(format!(
                "{width}x{height} pixels exceed the limit of {}x{}",
                self.max_width, self.max_height
            )));
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(Error::Image(format!(
                "{pixels} pixels exceed the limit of {}",
                self.max_pixels
            )));
        }
        Ok(())
    }
}

/// Whether a declared MIME type gets a thumbnail (the type the browser reported, not sniffed).
///
/// CookIM thumbnails JPEG, PNG and GIF; cookim adds WebP (issue 4).
pub fn is_thumbnailable(declared_type: &str) -> bool {
    matches!(
        declared_type,
        "image/jpeg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// Decodes an image (GIF: first frame) within `limits`, turned upright by its EXIF orientation.
///
/// Only the header is read before the limits are checked: [`Limits::check_dimensions`] on the
/// declared dimensions, then the decoded size against `max_alloc`. The pixels are decoded only
/// after both pass. A JPEG must also run to its end-of-image marker: the JPEG decoder would
/// otherwise paint a truncated file's missing part grey and call it a success.
///
/// # Errors
/// [`Error::Image`] if the bytes are not a supported image, are truncated, or exceed a limit.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage> {
    let image_error = |e: image::ImageError| Error::Image(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    let format = reader
        .format()
        .ok_or_else(|| Error::Image("unknown image format".into()))?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(Error::Image(format!("{format:?} images are not accepted")));
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::Image(
            "truncated JPEG: no end-of-image marker".into(),
        ));
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits.clone());
    // Reads the header only; the decoders also check width and height here.
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    limits.check_dimensions(width, height)?;
    // What `ImageReader::decode` does and `into_decoder` leaves to us: count the output buffer
    // against `max_alloc`, leaving the decoder only what remains for its own buffers.
    image_limits
        .reserve(decoder.total_bytes())
        .map_err(image_error)?;
    decoder.set_limits(image_limits).map_err(image_error)?;
    // EXIF is optional and a broken one should not cost the picture: read it as upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Whether a JPEG's segments run from start-of-image to an end-of-image marker.
///
/// `image` decodes JPEG in zune-jpeg's lenient mode, which paints whatever a truncated file
/// lacks grey and reports success; a cut-short upload should get no thumbnail instead. The
/// walk skips each segment by its length (so an EXIF thumbnail's own markers are never seen)
/// and scans entropy-coded data for the next real marker (`FF` followed by anything but the
/// stuffing `00` or a restart marker). Bytes after the end marker are allowed, as browsers do.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    let mut in_scan = false;
    while let (Some(&first), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) {
        if first != 0xFF || (in_scan && matches!(marker, 0x00 | 0xD0..=0xD7)) {
            // Scan data, a stuffed FF, a restart marker, or stray bytes between segments
            // (which libjpeg also skips).
            at += 1;
            continue;
        }
        match marker {
            EOI => return true,
            // A fill byte before a marker.
            0xFF => at += 1,
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(&[high, low]) = bytes.get(at + 2..at + 4) else {
                    return false;
                };
                let length = usize::from(u16::from_be_bytes([high, low]));
                if length < 2 {
                    return false;
                }
                at += 2 + length;
                in_scan = marker == SOS;
            }
        }
    }
    false
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
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| Error::Image(e.to_string()))?;
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
        let Ok(image) = decode(bytes, limits) else {
            continue;
        };
        let cell = image
            .resize_to_fill(90, 90, FilterType::Triangle)
            .to_rgba8();
        let i = i as i64;
        image::imageops::overlay(&mut canvas, &cell, (i % 2) * 100 + 5, (i / 2) * 100 + 5);
    }
    encode_png(&DynamicImage::ImageRgba8(canvas))
}

#[cfg(test)]
mod tests;
