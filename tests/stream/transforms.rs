//! Transforms: torchvision's vectors, hand-computed crop boxes and resizes, keyed randomness.

use layerwise::data::stream::{
    decode_rgb, image_rng, mirror_rows, random_resized_crop_box, resize_center_crop, Rect, Resampler, ResizeSpec,
    Transform,
};
use md5::{Digest, Md5};
use serde_json::Value;

use crate::{fixture, rgb_of};

fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("torchvision_transforms.json")).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect()
}

fn n(v: &Value, k: &str) -> usize {
    v[k].as_u64().unwrap() as usize
}

fn resize(src: &[u8], w: usize, spec: &ResizeSpec) -> Vec<u8> {
    let mut out = vec![0u8; spec.window.width * spec.window.height * 3];
    Resampler::default().resize(src, w, 3, spec, &mut out);
    out
}

#[test]
fn resized_crop_equals_torchvision_bit_for_bit() {
    let v = vectors();
    let src = bytes(&v["small"]);
    for c in v["resized_crop"].as_array().unwrap() {
        let from = Rect::new(n(c, "left"), n(c, "top"), n(c, "width"), n(c, "height"));
        let (ow, oh) = (n(c, "out_width"), n(c, "out_height"));
        let spec = ResizeSpec { from, out_width: ow, out_height: oh, window: Rect::new(0, 0, ow, oh) };
        assert_eq!(resize(&src, 29, &spec), bytes(&c["pixels"]), "crop {from:?} to {ow}x{oh}");
    }
}

#[test]
fn resize_center_crop_equals_torchvision_bit_for_bit() {
    let v = vectors();
    let small = bytes(&v["small"]);
    // The tall image is the small one transposed (29 rows of 19).
    let mut tall = vec![0u8; small.len()];
    for y in 0..19 {
        for x in 0..29 {
            tall[(x * 19 + y) * 3..(x * 19 + y) * 3 + 3]
                .copy_from_slice(&small[(y * 29 + x) * 3..(y * 29 + x) * 3 + 3]);
        }
    }
    for c in v["resize_center_crop"].as_array().unwrap() {
        let (src, w, h) = if c["image"] == "small" { (&small, 29, 19) } else { (&tall, 19, 29) };
        let spec = resize_center_crop(w, h, n(c, "resize"), n(c, "crop"));
        assert_eq!(
            resize(src, w, &spec),
            bytes(&c["pixels"]),
            "{} Resize({}) CenterCrop({})",
            c["image"],
            c["resize"],
            c["crop"]
        );
    }
}

#[test]
fn flip_and_fallback_equal_torchvision() {
    let v = vectors();
    let mut img = bytes(&v["small"]);
    mirror_rows(&mut img, 29, 3);
    assert_eq!(img, bytes(&v["flip"]));
    // scale = (2, 2) asks for more than the whole image ten times: torchvision falls back to the centre crop.
    for c in v["fallback"].as_array().unwrap() {
        let mut u = || 0.5;
        let got = random_resized_crop_box(n(c, "width"), n(c, "height"), (2.0, 2.0), (0.75, 4.0 / 3.0), &mut u);
        let want = Rect::new(n(c, "left"), n(c, "top"), n(c, "crop_width"), n(c, "crop_height"));
        assert_eq!(got, want);
    }
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn photo_at_224_equals_torchvision() {
    let v = vectors();
    let (w, h, rgb) = rgb_of(&fixture("images/coffee.jpg.pillow.png"));
    for c in v["coffee_resized_crop_224"].as_array().unwrap() {
        let from = Rect::new(n(c, "left"), n(c, "top"), n(c, "width"), n(c, "height"));
        let spec = ResizeSpec { from, out_width: 224, out_height: 224, window: Rect::new(0, 0, 224, 224) };
        let out = resize(&rgb, w, &spec);
        assert_eq!(md5_hex(&out), c["md5"].as_str().unwrap(), "crop {from:?}");
    }
    let e = &v["coffee_eval_256_224"];
    let out = resize(&rgb, w, &resize_center_crop(w, h, 256, 224));
    assert_eq!(&out[..12], &bytes(&e["first"])[..]);
    assert_eq!(md5_hex(&out), e["md5"].as_str().unwrap());
}

/// Uniform draws given in advance.
fn scripted(values: &[f64]) -> impl FnMut() -> f64 + '_ {
    let mut i = 0;
    move || {
        i += 1;
        values[i - 1]
    }
}

#[test]
fn crop_box_by_hand() {
    let (scale, ratio) = ((0.08, 1.0), (0.75, 4.0 / 3.0));
    // 100x80, area fraction 0.08 + 0.5 * 0.92 = 0.54 -> 4320 px; ratio exp(mid of logs) = 1 -> 65.7 -> 66x66;
    // top floor(0.25 * 15) = 3, left floor(0.75 * 35) = 26.
    let b = random_resized_crop_box(100, 80, scale, ratio, &mut scripted(&[0.5, 0.5, 0.25, 0.75]));
    assert_eq!(b, Rect::new(26, 3, 66, 66));
    // First attempt too wide (fraction ~1, ratio ~4/3: 103 > 100 px), second one fits: 0.08 * 8000 = 640 px
    // at ratio 3/4: w = round(sqrt(480)) = 22, h = round(sqrt(853.3)) = 29; top 0, left floor(0.999 * 79) = 78.
    let b = random_resized_crop_box(100, 80, scale, ratio, &mut scripted(&[0.999999, 0.999999, 0.0, 0.0, 0.0, 0.999]));
    assert_eq!(b, Rect::new(78, 0, 22, 29));
    // Python rounds halves to even: a 2.5 x 2.5 box is 2 x 2.
    let b = random_resized_crop_box(5, 5, (0.25, 0.25), (1.0, 1.0), &mut scripted(&[0.3, 0.3, 0.0, 0.0]));
    assert_eq!(b, Rect::new(0, 0, 2, 2));
}

#[test]
fn resize_by_hand() {
    // 4 -> 2 (one grey row): the filter spans 2 source pixels each side; output 0 centred at 1.0 weighs
    // pixels 0, 1, 2 by 3/7, 3/7, 1/7 -> (0 + 300 + 200) / 7 = 71.4; output 1 at 3.0 weighs 1, 2, 3 by
    // 1/7, 3/7, 3/7 -> (100 + 600 + 120) / 7 = 117.1. Both truncate after Pillow's +0.5 fixed-point rounding.
    let spec = ResizeSpec { from: Rect::new(0, 0, 4, 1), out_width: 2, out_height: 1, window: Rect::new(0, 0, 2, 1) };
    let mut out = [0u8; 2];
    Resampler::default().resize(&[0, 100, 200, 40], 4, 1, &spec, &mut out);
    assert_eq!(out, [71, 117]);
    // Upscaling 2 -> 4: outputs at 0.25, 0.75, 1.25, 1.75 interpolate linearly (clamped at the edges).
    let spec = ResizeSpec { from: Rect::new(0, 0, 2, 1), out_width: 4, out_height: 1, window: Rect::new(0, 0, 4, 1) };
    let mut out = [0u8; 4];
    Resampler::default().resize(&[0, 200], 2, 1, &spec, &mut out);
    assert_eq!(out, [0, 50, 150, 200]);
    // A flat image stays flat through any crop and size.
    let flat = vec![77u8; 13 * 7 * 3];
    let spec = ResizeSpec { from: Rect::new(2, 1, 9, 5), out_width: 31, out_height: 3, window: Rect::new(4, 1, 20, 2) };
    assert!(resize(&flat, 13, &spec).iter().all(|&p| p == 77));
}

#[test]
fn eval_geometry_follows_torchvision() {
    // 500x375 -> short side 256: 341x256 (int(256 * 500 / 375) = 341), crop offsets round(58.5) = 58, 16.
    let s = resize_center_crop(500, 375, 256, 224);
    assert_eq!((s.out_width, s.out_height), (341, 256));
    assert_eq!(s.window, Rect::new(58, 16, 224, 224));
    let s = resize_center_crop(333, 500, 256, 224);
    assert_eq!((s.out_width, s.out_height, s.window), (256, 384, Rect::new(16, 80, 224, 224)));
}

#[test]
fn random_choices_are_keyed_by_epoch_and_image() {
    let t = Transform::imagenet_train();
    let a = t.placement(500, 375, 7, 42);
    assert_eq!(a, t.placement(500, 375, 7, 42));
    assert_ne!(a, t.placement(500, 375, 8, 42));
    assert_ne!(a, t.placement(500, 375, 7, 43));
    let mut rng = image_rng(7, 42);
    let mut u = || rng.next_f64();
    let from = random_resized_crop_box(500, 375, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut u);
    assert_eq!(a.0.from, from);
    assert_eq!(a.1, u() < 0.5);
    // Over many images about half are flipped and the crops' area fractions cover (0.08, 1).
    let placements: Vec<_> = (0..2000).map(|i| t.placement(500, 375, 1, i)).collect();
    let flipped = placements.iter().filter(|p| p.1).count();
    assert!((900..1100).contains(&flipped), "{flipped} of 2000 flipped");
    let fractions: Vec<f64> =
        placements.iter().map(|p| (p.0.from.width * p.0.from.height) as f64 / (500.0 * 375.0)).collect();
    assert!(fractions.iter().cloned().fold(1.0, f64::min) < 0.1 && fractions.iter().cloned().fold(0.0, f64::max) > 0.9);
}

#[test]
fn odd_jpegs_decode_like_pillow() {
    // Greyscale and CMYK JPEGs become RGB; odd sizes and aspect ratios keep their size. JPEG decoders may
    // differ by IDCT rounding: allow a small difference from Pillow's (libjpeg-turbo's) decode.
    for name in ["grey_37x23.jpg", "cmyk_21x33.jpg", "wide_61x13.jpg", "coffee.jpg", "camera.jpg"] {
        let bytes = std::fs::read(fixture(&format!("images/{name}"))).unwrap();
        let mut rgb = Vec::new();
        let (w, h) = decode_rgb(&bytes, name.as_ref(), &mut rgb).unwrap();
        let (pw, ph, pillow) = rgb_of(&fixture(&format!("images/{name}.pillow.png")));
        assert_eq!((w, h), (pw, ph), "{name}");
        let max = rgb.iter().zip(&pillow).map(|(&a, &b)| (a as i32 - b as i32).abs()).max().unwrap();
        let mean =
            rgb.iter().zip(&pillow).map(|(&a, &b)| (a as i32 - b as i32).abs()).sum::<i32>() as f64 / rgb.len() as f64;
        assert!(max <= 8 && mean < 1.0, "{name}: max difference {max}, mean {mean:.2} from Pillow");
    }
}
