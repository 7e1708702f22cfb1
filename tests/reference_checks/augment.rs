use layerwise::ops::AugmentConfig;
use layerwise::reference::{self, augment_draw};

#[test]
fn augment_draws_are_uniform() {
    // 9 offset values for pad 4: each should get 1/9 of the draws, the flip 1/2, for many ids and a few
    // (seed, epoch) pairs; the bounds are about 6 standard deviations.
    let pad = 4;
    let ids = 90_000u32;
    for (seed, epoch) in [(0, 0), (1, 0), (1, 1), (0xdead_beef, 77)] {
        let (mut oy, mut ox, mut joint, mut flips) = ([0usize; 9], [0usize; 9], [0usize; 81], 0usize);
        for id in 0..ids {
            let (y, x, f) = augment_draw(seed, epoch, id, pad);
            assert!(y <= 2 * pad && x <= 2 * pad);
            oy[y as usize] += 1;
            ox[x as usize] += 1;
            joint[(y * 9 + x) as usize] += 1;
            flips += f as usize;
        }
        let n = ids as f64;
        let within = |count: usize, p: f64| (count as f64 - n * p).abs() < 6.0 * (n * p * (1.0 - p)).sqrt();
        assert!(oy.iter().all(|&k| within(k, 1.0 / 9.0)), "oy counts {oy:?} for seed {seed} epoch {epoch}");
        assert!(ox.iter().all(|&k| within(k, 1.0 / 9.0)), "ox counts {ox:?} for seed {seed} epoch {epoch}");
        assert!(joint.iter().all(|&k| within(k, 1.0 / 81.0)), "(oy, ox) not independent for seed {seed} epoch {epoch}");
        assert!(within(flips, 0.5), "{flips} flips of {ids} for seed {seed} epoch {epoch}");
    }
}

#[test]
fn augment_draws_change_with_epoch_and_seed_and_are_reproducible() {
    let pad = 4;
    let draws = |seed, epoch| (0..1000u32).map(|id| augment_draw(seed, epoch, id, pad)).collect::<Vec<_>>();
    let base = draws(3, 10);
    assert_eq!(base, draws(3, 10));
    for other in [draws(3, 11), draws(4, 10)] {
        let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        // Chance agreement is 1/162 of the ids; allow a generous margin.
        assert!(same < 30, "{same} of 1000 draws unchanged");
    }
    // pad 0: no offsets, the flip still varies.
    assert!((0..100).all(|id| {
        let (y, x, _) = augment_draw(1, 2, id, 0);
        y == 0 && x == 0
    }));
    assert!((0..100).any(|id| augment_draw(1, 2, id, 0).2) && (0..100).any(|id| !augment_draw(1, 2, id, 0).2));
}

#[test]
fn augment_reference_crops_pads_and_flips() {
    // One 2x3 single-channel image, pad 1. Find an id whose draw is (oy 0, ox 2, flip): the crop shifts
    // the image down by one row and left by one column, then the flip mirrors it.
    let pad = 1;
    let (seed, epoch) = (5, 6);
    let id =
        (0..10_000).find(|&id| augment_draw(seed, epoch, id, pad) == (0, 2, true)).expect("some id draws (0, 2, flip)");
    let image = [10u8, 20, 30, 40, 50, 60]; // rows [10 20 30], [40 50 60]
    let cfg = AugmentConfig { mean: [0.0; 4], std: [1.0; 4], pad, flip: true, augment: true };
    let mut out = vec![0.0; 6];
    reference::augment_batch(&image, &[id], &[seed, epoch], &mut out, &cfg, 2, 3, 1);
    // crop[y][x] = img[y - 1][x + 1]: rows [0 0 0], [20 30 0]; flipped: [0 0 0], [0 30 20].
    let want: Vec<f64> = [0.0, 0.0, 0.0, 0.0, 30.0, 20.0].iter().map(|b| b / 255.0).collect();
    assert_eq!(out, want);

    // Without flipping allowed the same draw only crops; with augmentation off nothing moves.
    let mut out = vec![0.0; 6];
    reference::augment_batch(&image, &[id], &[seed, epoch], &mut out, &AugmentConfig { flip: false, ..cfg }, 2, 3, 1);
    assert_eq!(out, [0.0, 0.0, 0.0, 20.0, 30.0, 0.0].map(|b| b / 255.0));
    reference::augment_batch(
        &image,
        &[id],
        &[seed, epoch],
        &mut out,
        &AugmentConfig { augment: false, ..cfg },
        2,
        3,
        1,
    );
    assert_eq!(out, image.map(|b| b as f64 / 255.0));

    // Normalisation per channel: (byte / 255 - mean) / std.
    let cfg =
        AugmentConfig { mean: [0.5, 0.25, 0.0, 0.0], std: [0.5, 2.0, 1.0, 1.0], pad: 0, flip: false, augment: false };
    let mut out = vec![0.0; 2];
    reference::augment_batch(&[255, 0], &[0], &[0, 0], &mut out, &cfg, 1, 1, 2);
    assert_eq!(out, [1.0, -0.125]);
}

/// The first sample id at or after `from` whose draw for (seed, epoch) is `(oy, ox, flip)`: how a test
/// makes the kernel take given crops and flips.
fn id_drawing(seed: u32, epoch: u32, pad: u32, (oy, ox, flip): (u32, u32, bool), from: u32) -> u32 {
    (from..from + 1_000_000).find(|&id| augment_draw(seed, epoch, id, pad) == (oy, ox, flip)).expect("an id draws it")
}

/// torchvision's RandomCrop(padding=4) (black padding) + RandomHorizontalFlip + ToTensor + Normalize for
/// given offsets and flips (PyTorch vectors `crop_black_*`), fed to the reference through ids that draw them.
#[test]
fn augment_matches_torchvision_black_padding() {
    for case in ["crop_black_cifar", "crop_black_fmnist"] {
        let get = |name: &str| crate::vectors::load(&format!("{case}.{name}"));
        // Stored as [N, H, W, C] already, so not permuted.
        let (images, shape) = crate::common::torch(&format!("{case}.images"));
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3]);
        let (mean, std) = (get("mean"), get("std"));
        let mut cfg = AugmentConfig { mean: [0.0; 4], std: [1.0; 4], pad: 4, flip: true, augment: true };
        for ch in 0..c {
            (cfg.mean[ch], cfg.std[ch]) = (mean[ch] as f32, std[ch] as f32);
        }
        let (seed, epoch) = (3, 1);
        let draws = get("oy").into_iter().zip(get("ox")).zip(get("flip"));
        let ids: Vec<u32> =
            draws.map(|((oy, ox), flip)| id_drawing(seed, epoch, 4, (oy as u32, ox as u32, flip == 1.0), 0)).collect();
        let bytes: Vec<u8> = images.iter().map(|&b| b as u8).collect();
        let mut out = vec![f64::NAN; n * h * w * c];
        reference::augment_batch(&bytes, &ids, &[seed, epoch], &mut out, &cfg, h, w, c);
        crate::vectors::assert_rel(case, &out, &get("y"), 1e-12);
        // The padding is black: -mean / std, the smallest value of each channel.
        let black = -mean[0] / std[0];
        assert!(out.iter().step_by(c).any(|&v| v == black), "{case}: no padding drawn");
    }
}
