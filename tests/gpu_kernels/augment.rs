use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::ops::AugmentConfig;
use layerwise::{ops, reference};

const MEAN: [f32; 4] = [0.4914, 0.4822, 0.4465, 0.5];
const STD: [f32; 4] = [0.2470, 0.2435, 0.2616, 0.25];

fn cfg(pad: u32, flip: bool, augment: bool) -> AugmentConfig {
    AugmentConfig { mean: MEAN, std: STD, pad, flip, augment }
}

/// Run the kernel on one batch; returns out [N, H, W, C] (NaN-poisoned before the run).
fn run_gpu(
    g: &Gpu,
    images: &[u8],
    ids: &[u32],
    seed_epoch: [u32; 2],
    shape: [usize; 4],
    cfg: &AugmentConfig,
) -> Vec<f32> {
    let ti = g.tensor_u32(&[images.len().div_ceil(4)], "images").unwrap();
    g.upload_bytes(&ti, images);
    let tids = g.tensor_u32(&[ids.len()], "sample_ids").unwrap();
    g.upload_u32(&tids, ids);
    let trng = g.tensor_u32(&[2], "rng").unwrap();
    g.upload_u32(&trng, &seed_epoch);
    let out = g.tensor(&shape, "out").unwrap();
    g.fill(&out, f32::NAN);
    let mut p = PlanBuilder::new(g, "augment");
    ops::augment_batch(&mut p, &ti, &tids, &trng, &out, cfg).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    g.download(&out).unwrap()
}

fn run_cpu(images: &[u8], ids: &[u32], seed_epoch: [u32; 2], shape: [usize; 4], cfg: &AugmentConfig) -> Vec<f64> {
    let mut out = vec![0.0; shape.iter().product()];
    reference::augment_batch(images, ids, &seed_epoch, &mut out, cfg, shape[1], shape[2], shape[3]);
    out
}

/// Bytes 1..=255 only, so with mean 0 / std 1 a zero output can only be padding.
fn images(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.range(1, 255) as u8).collect()
}

/// Shapes [N, H, W, C] (28x28, 32x32 and 5x7; C = 1 and 3; batch 1) with their dataset ids.
fn batches(rng: &mut Rng) -> Vec<([usize; 4], Vec<u32>)> {
    [[5, 28, 28, 1], [3, 32, 32, 3], [1, 5, 7, 3], [6, 5, 7, 1]]
        .into_iter()
        .map(|shape| (shape, (0..shape[0]).map(|_| rng.range(0, 60_000) as u32).collect()))
        .collect()
}

#[test]
fn augment_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(21);
        for (shape, ids) in batches(&mut rng) {
            let bytes = images(&mut rng, shape.iter().product());
            for cfg in [
                cfg(0, false, false),
                cfg(4, true, false),
                cfg(0, true, true),
                cfg(4, false, true),
                cfg(4, true, true),
                cfg(1, true, true),
            ] {
                for (seed_epoch, span) in
                    [[7, 0], [7, 1], [123_456, 9]].into_iter().flat_map(|s| GRID_SPANS.map(|g| (s, g)))
                {
                    let got = with_span(span, || run_gpu(g, &bytes, &ids, seed_epoch, shape, &cfg));
                    let want = run_cpu(&bytes, &ids, seed_epoch, shape, &cfg);
                    let what = format!("{shape:?} {cfg:?} {seed_epoch:?} span {span:?}");
                    assert_close(&what, &got, &want);
                    let worst = got.iter().zip(&want).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
                    assert!(worst < 1e-5, "{what}: max abs error {worst:e}");
                }
            }
        }
    });
}

/// With mean 0 and std 1 the outputs are byte / 255 exactly recoverable, so the GPU's crops and flips
/// must equal the reference's bit for bit (any other draw moves pixels around).
#[test]
fn augment_draws_agree_bit_for_bit() {
    both_modes(|g| {
        let mut rng = Rng::new(22);
        let identity = AugmentConfig { mean: [0.0; 4], std: [1.0; 4], pad: 4, flip: true, augment: true };
        let mut padded = 0usize;
        for (shape, ids) in batches(&mut rng) {
            let bytes = images(&mut rng, shape.iter().product());
            for (seed_epoch, span) in [[1, 0], [1, 1], [99, 5]].into_iter().flat_map(|s| GRID_SPANS.map(|g| (s, g))) {
                let got = with_span(span, || run_gpu(g, &bytes, &ids, seed_epoch, shape, &identity));
                let want = run_cpu(&bytes, &ids, seed_epoch, shape, &identity);
                let got_bytes: Vec<u32> = got.iter().map(|&v| (v as f64 * 255.0).round() as u32).collect();
                let want_bytes: Vec<u32> = want.iter().map(|&v| (v * 255.0).round() as u32).collect();
                assert_eq!(got_bytes, want_bytes, "{shape:?} {seed_epoch:?}: GPU and CPU augmentations differ");
                padded += want_bytes.iter().filter(|&&b| b == 0).count();
            }
        }
        assert!(padded > 0, "no padding was ever drawn: the test did not exercise the crop");
    });
}

#[test]
fn augment_is_reproducible_and_independent_of_batch_composition() {
    both_modes(|g| {
        let mut rng = Rng::new(23);
        let shape = [8, 32, 32, 3];
        let bytes = images(&mut rng, shape.iter().product());
        let ids: Vec<u32> = (0..8).map(|i| 1000 + 37 * i).collect();
        let c = cfg(4, true, true);
        let a = run_gpu(g, &bytes, &ids, [5, 2], shape, &c);
        let b = run_gpu(g, &bytes, &ids, [5, 2], shape, &c);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "same seed and epoch gave different outputs"
        );

        // A new epoch draws new crops for most images.
        let e = run_gpu(g, &bytes, &ids, [5, 3], shape, &c);
        let per = 32 * 32 * 3;
        let changed = (0..8).filter(|&i| a[i * per..(i + 1) * per] != e[i * per..(i + 1) * per]).count();
        assert!(changed >= 6, "only {changed} of 8 images changed with the epoch");

        // Reversing the batch (images and ids together) reverses the output: draws follow the sample id.
        let rev_bytes: Vec<u8> = (0..8).rev().flat_map(|i| bytes[i * per..(i + 1) * per].to_vec()).collect();
        let rev_ids: Vec<u32> = ids.iter().rev().copied().collect();
        let r = run_gpu(g, &rev_bytes, &rev_ids, [5, 2], shape, &c);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for i in 0..8 {
            let j = 7 - i;
            assert_eq!(
                bits(&a[i * per..(i + 1) * per]),
                bits(&r[j * per..(j + 1) * per]),
                "image {i} changed with its position in the batch"
            );
        }
    });
}

#[test]
fn augment_refuses_more_than_four_channels() {
    both_modes(|g| {
        let ti = g.tensor_u32(&[10], "images").unwrap();
        let tids = g.tensor_u32(&[1], "ids").unwrap();
        let trng = g.tensor_u32(&[2], "rng").unwrap();
        let out = g.tensor(&[1, 2, 4, 5], "out").unwrap();
        let mut p = PlanBuilder::new(g, "augment c5");
        let e = ops::augment_batch(&mut p, &ti, &tids, &trng, &out, &cfg(0, false, false))
            .expect_err("C = 5 must be refused");
        assert!(e.to_string().contains("1 to 4 channels"), "{e}");
    });
}

/// Against torchvision (PyTorch vectors `crop_black_*`: RandomCrop(padding=4), whose padding is black
/// before Normalize, then RandomHorizontalFlip) for given crops and flips, passed as sample ids that draw them.
#[test]
fn augment_matches_torchvision_black_padding() {
    both_modes(|g| {
        for case in ["crop_black_cifar", "crop_black_fmnist"] {
            let get = |name: &str| torch(&format!("{case}.{name}"));
            let (images, shape) = get("images"); // [N, H, W, C] bytes, stored as float
            let (mean, std) = (get("mean").0, get("std").0);
            let mut c = cfg(4, true, true);
            for ch in 0..shape[3] {
                (c.mean[ch], c.std[ch]) = (mean[ch] as f32, std[ch] as f32);
            }
            let (seed, epoch) = (8, 2);
            let draws = get("oy").0.into_iter().zip(get("ox").0).zip(get("flip").0);
            let ids: Vec<u32> = draws
                .map(|((oy, ox), flip)| {
                    let want = (oy as u32, ox as u32, flip == 1.0);
                    (0..).find(|&id| reference::augment_draw(seed, epoch, id, 4) == want).unwrap()
                })
                .collect();
            let bytes: Vec<u8> = images.iter().map(|&b| b as u8).collect();
            let got = run_gpu(g, &bytes, &ids, [seed, epoch], [shape[0], shape[1], shape[2], shape[3]], &c);
            let (y, ys) = get("y");
            assert_close(case, &got, &nchw_to_nhwc(&y, &ys));
        }
    });
}
