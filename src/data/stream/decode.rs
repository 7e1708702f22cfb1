//! Encoded image bytes to RGB pixels in a buffer the caller reuses. JPEGs go through zune-jpeg (the
//! decoder of the `image` crate, called directly so the output lands in our buffer); anything else
//! (ImageNet's training set holds a PNG named .JPEG) through `image`. Greyscale, CMYK and YCCK JPEGs
//! come out as RGB.

use std::path::Path;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use crate::{Error, Result};

/// Width and height of the decoded image; `rgb` holds [height, width, 3] bytes.
pub fn decode_rgb(bytes: &[u8], name: &Path, rgb: &mut Vec<u8>) -> Result<(usize, usize)> {
    // A decoder bug on a hostile file must become an error naming it, not a crash of the trainer.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            decode_jpeg(bytes, rgb)
        } else {
            decode_other(bytes, rgb)
        }
    }));
    match decoded {
        Ok(Ok(size)) => Ok(size),
        Ok(Err(msg)) => Err(Error::data(name, format!("cannot decode the image: {msg}"))),
        Err(_) => Err(Error::data(name, "the image decoder crashed on this file")),
    }
}

fn decode_jpeg(bytes: &[u8], rgb: &mut Vec<u8>) -> std::result::Result<(usize, usize), String> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions().ok_or("no image size in the headers")?;
    let len = decoder.output_buffer_size().ok_or("image too large")?;
    if decoder.output_colorspace() != Some(ColorSpace::RGB) || len != w * h * 3 {
        return Err(format!("unsupported JPEG colour space {:?}", decoder.input_colorspace()));
    }
    rgb.resize(len, 0);
    decoder.decode_into(rgb).map_err(|e| e.to_string())?;
    Ok((w, h))
}

fn decode_other(bytes: &[u8], rgb: &mut Vec<u8>) -> std::result::Result<(usize, usize), String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pixels = img.into_rgb8().into_raw();
    rgb.clear();
    rgb.extend_from_slice(&pixels);
    Ok((w, h))
}
