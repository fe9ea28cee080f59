//! Avatars: a small PNG or JPEG picture, decoded and encoded again by us so that no byte a
//! peer chose (a polyglot file, metadata, an exploit for some viewer's decoder) is passed on.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The most bytes an avatar may have, before and after it is encoded again: 64 KiB.
pub const AVATAR_MAX_BYTES: usize = 64 * 1024;
/// The widest and tallest avatar, in pixels. It bounds what decoding may allocate, whatever
/// a file's header claims (a "decompression bomb" is a few bytes that claim a huge picture).
pub const AVATAR_MAX_SIDE: u32 = 1024;
/// The most bytes the decoder may allocate: a 1024 × 1024 picture of 16-bit RGBA and some.
const DECODE_MAX_ALLOC: u64 = 10 * 1024 * 1024;
/// The quality JPEG avatars are encoded again at: good for faces, small on the wire.
const JPEG_QUALITY: u8 = 85;

/// Why a picture is refused as an avatar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    /// The file is larger than [`AVATAR_MAX_BYTES`].
    #[error("the avatar is {bytes} bytes; at most {max} are allowed")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
    /// The file is neither a PNG nor a JPEG picture.
    #[error("the avatar must be a PNG or JPEG picture")]
    UnsupportedFormat,
    /// The picture is wider or taller than [`AVATAR_MAX_SIDE`] pixels.
    #[error("the avatar is {width}×{height} pixels; at most {max}×{max} are allowed")]
    TooManyPixels {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The longest side allowed.
        max: u32,
    },
    /// The file claims to be a PNG or JPEG but does not decode.
    #[error("the avatar does not decode as a picture: {0}")]
    Undecodable(String),
    /// Encoded again by us, the picture no longer fits in [`AVATAR_MAX_BYTES`] (a PNG photo,
    /// typically); a smaller picture or a JPEG fits.
    #[error(
        "the avatar takes {bytes} bytes once encoded again, over the {max} allowed; use a smaller picture or a JPEG"
    )]
    ReencodedTooLarge {
        /// The size of our encoding.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
}

/// Decodes `bytes` as a PNG or JPEG picture within the bounds above and encodes it again in
/// the same format, returning our encoding. Nothing of the original file but its pixels
/// survives: no metadata, no trailing bytes, no unusual chunk.
///
/// # Errors
///
/// See [`AvatarError`].
pub fn reencode_avatar(bytes: &[u8]) -> Result<Vec<u8>, AvatarError> {
    if bytes.len() > AVATAR_MAX_BYTES {
        return Err(AvatarError::TooLarge {
            bytes: bytes.len(),
            max: AVATAR_MAX_BYTES,
        });
    }
    let format = match image::guess_format(bytes) {
        Ok(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => format,
        _ => return Err(AvatarError::UnsupportedFormat),
    };
    let picture = decode_bounded(bytes, format)?;
    let encoded = encode(&picture, format)?;
    if encoded.len() > AVATAR_MAX_BYTES {
        return Err(AvatarError::ReencodedTooLarge {
            bytes: encoded.len(),
            max: AVATAR_MAX_BYTES,
        });
    }
    Ok(encoded)
}

/// Decodes with the dimension and allocation limits set before any pixel is read.
fn decode_bounded(bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, AvatarError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(AVATAR_MAX_SIDE);
    limits.max_image_height = Some(AVATAR_MAX_SIDE);
    limits.max_alloc = Some(DECODE_MAX_ALLOC);
    reader.limits(limits);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|err| AvatarError::Undecodable(err.to_string()))?;
    if width > AVATAR_MAX_SIDE || height > AVATAR_MAX_SIDE {
        return Err(AvatarError::TooManyPixels {
            width,
            height,
            max: AVATAR_MAX_SIDE,
        });
    }
    // `into_dimensions` consumed the first reader; this one decodes under the same limits.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(AVATAR_MAX_SIDE);
    limits.max_image_height = Some(AVATAR_MAX_SIDE);
    limits.max_alloc = Some(DECODE_MAX_ALLOC);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|err| AvatarError::Undecodable(err.to_string()))
}

/// Encodes `picture` in `format` (PNG keeps transparency; JPEG has none, so it is flattened
/// to RGB first).
fn encode(picture: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, AvatarError> {
    let mut out = Vec::new();
    let result = if format == ImageFormat::Jpeg {
        let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        DynamicImage::ImageRgb8(picture.to_rgb8()).write_with_encoder(encoder)
    } else {
        picture.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
    };
    result.map_err(|err| AvatarError::Undecodable(err.to_string()))?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 7, 255])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(picture)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let picture = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 99]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(picture)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    #[test]
    fn png_and_jpeg_are_encoded_again_without_foreign_bytes() {
        let mut original = png(32, 32);
        // Bytes after the PNG's end are no part of the picture: they must not survive.
        original.extend_from_slice(b"<script>alert(1)</script>");
        let ours = reencode_avatar(&original).unwrap();
        assert!(!ours.windows(8).any(|w| w == b"<script>"));
        assert_eq!(image::guess_format(&ours).unwrap(), ImageFormat::Png);
        let decoded = image::load_from_memory(&ours).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (32, 32));

        let ours = reencode_avatar(&jpeg(40, 20)).unwrap();
        assert_eq!(image::guess_format(&ours).unwrap(), ImageFormat::Jpeg);
        // Encoding our own output again is stable in size: it is already ours.
        assert!(reencode_avatar(&ours).is_ok());
    }

    #[test]
    fn other_formats_and_garbage_are_refused() {
        assert_eq!(
            reencode_avatar(b"GIF89a\x01\x00\x01\x00"),
            Err(AvatarError::UnsupportedFormat)
        );
        assert_eq!(reencode_avatar(b""), Err(AvatarError::UnsupportedFormat));
        let mut truncated = png(16, 16);
        truncated.truncate(40);
        assert!(matches!(
            reencode_avatar(&truncated),
            Err(AvatarError::Undecodable(_))
        ));
    }

    #[test]
    fn size_and_dimension_bounds() {
        let big = vec![0u8; AVATAR_MAX_BYTES + 1];
        assert_eq!(
            reencode_avatar(&big),
            Err(AvatarError::TooLarge {
                bytes: AVATAR_MAX_BYTES + 1,
                max: AVATAR_MAX_BYTES
            })
        );
        // A small file that claims a huge picture is refused before its pixels are decoded.
        let wide = png(AVATAR_MAX_SIDE + 1, 1);
        assert!(matches!(
            reencode_avatar(&wide),
            Err(AvatarError::TooManyPixels { .. } | AvatarError::Undecodable(_))
        ));
    }
}
