//! The visual report: every image is drawn at the expected size and is not blank, hand-set weights land
//! where they should, PCA finds known directions, report.html links only what exists and shows the
//! summary, the same input gives the same bytes, and Chromium renders the page.

mod chromium;
mod common;

use std::path::{Path, PathBuf};

use common::Rng;
use layerwise::metrics::{EpochRecord, StageSummary};
use layerwise::viz::{self, FeatureSample, FilterView, ReportInput, StageWeights};

/// A fresh, empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("viz-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn normals32(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

/// Four epochs of each of 3 greedy stages, the LR decayed after epoch 2.
fn tiny_records() -> Vec<EpochRecord> {
    let mut records = Vec::new();
    let mut elapsed = 0.0;
    for stage in 0..3 {
        for epoch in 1..=4 {
            elapsed += 1.5;
            let val_acc = (0..=stage).map(|j| 40.0 + 10.0 * j as f64 + 5.0 * epoch as f64).collect();
            records.push(EpochRecord {
                method: "greedy".into(),
                stage,
                epoch,
                lr: if epoch <= 2 { 0.1 } else { 0.02 },
                train_loss: 2.0 / (epoch as f64 + stage as f64),
                train_acc: 45.0 + 8.0 * epoch as f64 + 3.0 * stage as f64,
                val_acc,
                ensemble_acc: 42.0 + 10.0 * stage as f64 + 5.0 * epoch as f64,
                img_per_s: 1234.5,
                seconds: 1.5,
                elapsed,
                ..Default::default()
            });
        }
    }
    records
}

/// The 3 stages' summaries, with HTML-special characters in the descriptions.
fn tiny_summaries() -> Vec<StageSummary> {
    (0..3)
        .map(|s| StageSummary {
            stage: s,
            description: format!("conv3x3 <{s}> & relu"),
            stage_params: 1000 * (s + 1) + 234,
            head_params: 5_000_123 + s,
            stage_flops: 12_345_678 * (s as u64 + 1),
            head_flops: 2_500 + s as u64,
            head_acc: 61.25 + 10.0 * s as f64,
            ensemble_acc: 62.5 + 10.0 * s as f64,
            seconds: 12.34 + s as f64,
            img_per_s: 2345.6,
            peak_mib: 123.45 + s as f64,
            ..Default::default()
        })
        .collect()
}

/// Filters of an RGB stage 0, a space-to-depth stage and a plain deep stage.
fn tiny_filters(rng: &mut Rng) -> Vec<StageWeights> {
    vec![
        StageWeights { stage: 0, shape: [4, 3, 3, 3], weights: normals32(rng, 4 * 9 * 3), space_to_depth: false },
        StageWeights { stage: 1, shape: [5, 3, 3, 16], weights: normals32(rng, 5 * 9 * 16), space_to_depth: true },
        StageWeights { stage: 2, shape: [6, 3, 3, 10], weights: normals32(rng, 6 * 9 * 10), space_to_depth: false },
    ]
}

/// Each stage's (non-negative) feature maps of the 3 images.
fn tiny_features(rng: &mut Rng) -> Vec<FeatureSample> {
    let relu = |v: Vec<f32>| v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>();
    vec![
        FeatureSample { stage: 0, height: 8, width: 8, channels: 4, maps: relu(normals32(rng, 3 * 8 * 8 * 4)) },
        FeatureSample { stage: 1, height: 4, width: 4, channels: 5, maps: relu(normals32(rng, 3 * 4 * 4 * 5)) },
        FeatureSample { stage: 2, height: 4, width: 4, channels: 10, maps: relu(normals32(rng, 3 * 4 * 4 * 10)) },
    ]
}

/// Each stage's pooled features as `ReportInput::pooled` holds them: (stage, [n, d] values, d).
type Pooled = Vec<(usize, Vec<f32>, usize)>;

/// Pooled features of 60 images in four classes with separated means, d = 6 (exact PCA) and d = 80
/// (subspace iteration), and their labels.
fn tiny_pooled(rng: &mut Rng) -> (Pooled, Vec<u32>) {
    let n = 60;
    let labels: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
    let pooled = [6usize, 80, 80]
        .iter()
        .enumerate()
        .map(|(s, &d)| {
            let mut x = normals32(rng, n * d);
            for (i, &l) in labels.iter().enumerate() {
                x[i * d + l as usize] += 3.0 * (s as f32 + 1.0);
            }
            (s, x, d)
        })
        .collect();
    (pooled, labels)
}

/// A small but complete report input: 3 stages (RGB stage 0, a space-to-depth stage, a plain deep stage),
/// 3 images, pooled features on both sides of the PCA size switch.
fn tiny_input() -> ReportInput {
    let mut rng = Rng::new(7);
    // One generator, drawn from in this order: filters, feature maps, pooled features.
    let filters = tiny_filters(&mut rng);
    let features = tiny_features(&mut rng);
    let (pooled, pooled_labels) = tiny_pooled(&mut rng);
    let (ih, iw, ic) = (8, 8, 3);
    ReportInput {
        title: "tiny <run> & \"test\"".into(),
        config_toml: "[model]\nwidth = 16 # <not a tag>\n".into(),
        adapter: "llvmpipe (Vulkan, Cpu)".into(),
        records: tiny_records(),
        summaries: tiny_summaries(),
        lr_steps: vec![2],
        filters,
        input_images: (0..3 * ih * iw * ic).map(|i| ((i * 37) % 256) as u8).collect(),
        input_shape: [ih, iw, ic],
        features,
        pooled,
        pooled_labels,
        // One name short: the fourth class falls back to "class 3".
        class_names: vec!["cat".into(), "dog".into(), "ship".into()],
    }
}

/// (width, height, RGB bytes) of a PNG.
fn load(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

fn variance(bytes: &[u8]) -> f64 {
    let n = bytes.len() as f64;
    let mean = bytes.iter().map(|&b| b as f64).sum::<f64>() / n;
    bytes.iter().map(|&b| (b as f64 - mean).powi(2)).sum::<f64>() / n
}

#[track_caller]
fn assert_not_blank(path: &Path) {
    let (_, _, px) = load(path);
    assert!(variance(&px) > 0.0, "{} is blank", path.display());
}

#[test]
fn every_renderer_draws_an_image_of_the_expected_size() {
    let dir = scratch("renderers");
    let input = tiny_input();

    let p = dir.join("curves.png");
    viz::training_curves_png(&input.records, &input.lr_steps, &p).unwrap();
    assert_eq!((load(&p).0, load(&p).1), (1200, 460));
    assert_not_blank(&p);

    let p = dir.join("depth.png");
    viz::accuracy_vs_depth_png(&input.summaries, &p).unwrap();
    assert_eq!((load(&p).0, load(&p).1), (760, 440));
    assert_not_blank(&p);

    // Three stages: one row of three 400 x 380 panels, plus a legend of four classes in one line.
    let p = dir.join("sep.png");
    viz::separability_png(&input.pooled, &input.pooled_labels, &input.class_names, &p).unwrap();
    assert_eq!((load(&p).0, load(&p).1), (1200, 380 + 16 + 22));
    assert_not_blank(&p);

    for w in &input.filters {
        let p = dir.join(format!("filters{}.png", w.stage));
        viz::filter_grid_png(w, &p, 16).unwrap();
        let grid = viz::render_filter_grid(w, 16).unwrap();
        let (pw, ph, px) = load(&p);
        assert_eq!((pw, ph), (grid.width, grid.height));
        assert_eq!(px, grid.rgb, "the PNG holds exactly the rendered pixels");
        assert_not_blank(&p);
    }

    for f in &input.features {
        let p = dir.join(format!("features{}.png", f.stage));
        viz::feature_maps_png(&input.input_images, input.input_shape, f, &p, 3).unwrap();
        let (pw, ph, _) = load(&p);
        // 64-pixel cells with 8-pixel gutters: input column + 3 channels; a 30-pixel title and 16-pixel
        // column heads above 3 rows.
        assert!(pw >= 8 + 72 + 8 + 3 * 72, "width {pw}");
        assert_eq!(ph, 30 + 16 + 3 * 72 + 8);
        assert_not_blank(&p);
    }
}

#[test]
fn filter_view_depends_on_the_channels_a_filter_sees() {
    let input = tiny_input();
    assert_eq!(viz::filter_view(&input.filters[0]), FilterView::Patches { rgb: true });
    // 16 channels after space-to-depth are 4 channels of the previous map: still too many for a colour.
    let g = viz::render_filter_grid(&input.filters[1], 16).unwrap();
    assert_eq!(g.view, FilterView::Slices { per_filter: 4 });
    assert!(g.unfolded);
    assert_eq!(g.kernel, [6, 6, 4]);
    assert_eq!(g.tiles.len(), 5 * 4);
    // The strongest filters first, and a cap on how many.
    let g = viz::render_filter_grid(&input.filters[2], 2).unwrap();
    assert_eq!(g.filters_shown.len(), 2);
    let w = &input.filters[2].weights;
    let norm = |o: usize| w[o * 90..(o + 1) * 90].iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
    let mut best: Vec<usize> = (0..6).collect();
    best.sort_by(|&a, &b| norm(b).total_cmp(&norm(a)));
    assert_eq!(g.filters_shown, best[..2]);
}

/// The colour of the block that kernel tap (r, c) occupies in a tile; asserts the block is uniform.
#[track_caller]
fn block(g: &viz::FilterGrid, t: &viz::FilterTile, kh: usize, kw: usize, r: usize, c: usize) -> [u8; 3] {
    let (sy, sx) = (t.height as usize / kh, t.width as usize / kw);
    assert_eq!((sy * kh, sx * kw), (t.height as usize, t.width as usize), "tile is a whole number of blocks");
    let at = |x: usize, y: usize| {
        let i = (y * g.width as usize + x) * 3;
        [g.rgb[i], g.rgb[i + 1], g.rgb[i + 2]]
    };
    let (x0, y0) = (t.x as usize + c * sx, t.y as usize + r * sy);
    let first = at(x0, y0);
    for y in y0..y0 + sy {
        for x in x0..x0 + sx {
            assert_eq!(at(x, y), first, "block ({r}, {c}) is not uniform at pixel ({x}, {y})");
        }
    }
    first
}

#[test]
fn hand_set_grey_filters_light_the_right_blocks() {
    // Two 3x3 filters on one channel: #0 has +1 at (kh 1, kw 2), #1 has -0.5 at (0, 0).
    let mut weights = vec![0.0f32; 2 * 9];
    weights[3 + 2] = 1.0;
    weights[9] = -0.5;
    let w = StageWeights { stage: 0, shape: [2, 3, 3, 1], weights, space_to_depth: false };
    let g = viz::render_filter_grid(&w, 64).unwrap();
    assert_eq!(g.view, FilterView::Patches { rgb: false });
    assert_eq!(g.filters_shown, vec![0, 1], "all filters fit, so they keep index order");
    assert_eq!(g.tiles.len(), 2);
    for (t, lit, level) in [(&g.tiles[0], (1, 2), 255u8), (&g.tiles[1], (0, 0), 1u8)] {
        assert!(t.width >= 6, "patches are enlarged");
        for r in 0..3 {
            for c in 0..3 {
                let want = if (r, c) == lit { level } else { 128 };
                assert_eq!(block(&g, t, 3, 3, r, c), [want; 3], "filter {} tap ({r}, {c})", t.filter);
            }
        }
    }
}

#[test]
fn hand_set_rgb_filter_shows_its_colours() {
    // +1 in red at (0, 1), -1 in blue at (2, 2), 0.5 in green at (1, 0).
    let mut weights = vec![0.0f32; 27];
    weights[3] = 1.0;
    weights[(2 * 3 + 2) * 3 + 2] = -1.0;
    weights[(3) * 3 + 1] = 0.5;
    let w = StageWeights { stage: 0, shape: [1, 3, 3, 3], weights, space_to_depth: false };
    let g = viz::render_filter_grid(&w, 64).unwrap();
    let t = &g.tiles[0];
    assert_eq!(block(&g, t, 3, 3, 0, 1), [255, 128, 128]);
    assert_eq!(block(&g, t, 3, 3, 2, 2), [128, 128, 1]);
    assert_eq!(block(&g, t, 3, 3, 1, 0), [128, 192, 128]);
    assert_eq!(block(&g, t, 3, 3, 1, 1), [128, 128, 128]);
}

#[test]
fn space_to_depth_filters_are_drawn_at_full_resolution() {
    // One filter over a 2x2 space-to-depth of a 1-channel map: Cin = 4. A weight at tap (1, 2) on channel
    // (dh 1, dw 0) = 2 reads the previous map at (2*1 + 1, 2*2 + 0) = (3, 4) of the 6x6 equivalent.
    let mut weights = vec![0.0f32; 9 * 4];
    weights[(3 + 2) * 4 + 2] = 0.7;
    let w = StageWeights { stage: 1, shape: [1, 3, 3, 4], weights, space_to_depth: true };
    let g = viz::render_filter_grid(&w, 64).unwrap();
    assert!(g.unfolded);
    assert_eq!(g.kernel, [6, 6, 1]);
    assert_eq!(g.view, FilterView::Patches { rgb: false });
    let t = &g.tiles[0];
    for r in 0..6 {
        for c in 0..6 {
            let want = if (r, c) == (3, 4) { 255 } else { 128 };
            assert_eq!(block(&g, t, 6, 6, r, c), [want; 3], "tap ({r}, {c})");
        }
    }
}

#[test]
fn deep_filters_show_their_strongest_input_slices() {
    // 3 filters on 16 channels; #1 is the strongest: 2.0 on channel 5 at (2, 0), 1.0 on channel 9 at (1, 1).
    let mut weights = vec![0.0f32; 3 * 9 * 16];
    let at = |o: usize, r: usize, c: usize, ch: usize| ((o * 3 + r) * 3 + c) * 16 + ch;
    weights[at(1, 2, 0, 5)] = 2.0;
    weights[at(1, 1, 1, 9)] = 1.0;
    weights[at(0, 0, 0, 0)] = 0.1;
    weights[at(2, 0, 0, 3)] = -0.2;
    let w = StageWeights { stage: 2, shape: [3, 3, 3, 16], weights, space_to_depth: false };
    let g = viz::render_filter_grid(&w, 2).unwrap();
    assert_eq!(g.view, FilterView::Slices { per_filter: 8 });
    assert_eq!(g.filters_shown, vec![1, 2]);
    let row: Vec<&viz::FilterTile> = g.tiles.iter().filter(|t| t.filter == 1).collect();
    assert_eq!(row.len(), 8);
    assert_eq!(row[0].channel, Some(5));
    assert_eq!(row[1].channel, Some(9));
    assert_eq!(block(&g, row[0], 3, 3, 2, 0), [255; 3]);
    assert_eq!(block(&g, row[0], 3, 3, 0, 0), [128; 3]);
    // One scale per filter: half the largest weight is half-way to white.
    assert_eq!(block(&g, row[1], 3, 3, 1, 1), [192; 3]);
    assert_eq!(block(&g, row[2], 3, 3, 1, 1), [128; 3]);
}

#[test]
fn feature_maps_pick_the_most_active_channels() {
    let mut maps = vec![0.0f32; 2 * 2 * 2 * 5];
    for px in maps.chunks_exact_mut(5) {
        px[3] = 2.0;
        px[1] = 1.0;
        px[4] = 0.5;
    }
    let s = FeatureSample { stage: 0, height: 2, width: 2, channels: 5, maps };
    assert_eq!(viz::strongest_channels(&s, 2), vec![3, 1]);
    assert_eq!(viz::strongest_channels(&s, 9), vec![3, 1, 4, 0, 2]);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = scratch("bad");
    let w = StageWeights { stage: 0, shape: [2, 3, 3, 1], weights: vec![0.0; 17], space_to_depth: false };
    assert!(viz::filter_grid_png(&w, &dir.join("a.png"), 8).is_err());
    let f = FeatureSample { stage: 0, height: 2, width: 2, channels: 2, maps: vec![0.0; 7] };
    assert!(viz::feature_maps_png(&[0u8; 12], [2, 2, 3], &f, &dir.join("b.png"), 4).is_err());
    assert!(viz::separability_png(&[(0, vec![0.0; 10], 3)], &[0, 1, 2], &[], &dir.join("c.png")).is_err());
    assert!(viz::training_curves_png(&[], &[], &dir.join("d.png")).is_err());
    assert!(viz::accuracy_vs_depth_png(&[], &dir.join("e.png")).is_err());
}

/// n points: 4 z0 u + 2 z1 v + isotropic unit noise + an offset, for orthonormal u, v.
fn anisotropic(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let unit = |v: Vec<f64>| {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<_>>()
    };
    let u = unit(rng.normals(d));
    let mut v = rng.normals(d);
    let p: f64 = v.iter().zip(&u).map(|(a, b)| a * b).sum();
    v.iter_mut().zip(&u).for_each(|(a, b)| *a -= p * b);
    let v = unit(v);
    let mut x = Vec::with_capacity(n * d);
    for _ in 0..n {
        let (a, b) = (4.0 * rng.normal(), 2.0 * rng.normal());
        for j in 0..d {
            x.push((a * u[j] + b * v[j] + rng.normal() + 10.0) as f32);
        }
    }
    (x, u, v)
}

fn cos(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>().abs()
}

#[test]
fn pca_recovers_the_dominant_directions() {
    // Both paths: the exact covariance one and the subspace iteration one.
    for (d, seed) in [(12, 1), (viz::pca::DIRECT_MAX_DIM + 236, 2)] {
        let n = 3000;
        let (x, u, v) = anisotropic(n, d, seed);
        let p = viz::pca_2d(&x, n, d);
        assert!(cos(&p.components[0], &u) > 0.99, "d = {d}: PC1 . u = {}", cos(&p.components[0], &u));
        assert!(cos(&p.components[1], &v) > 0.97, "d = {d}: PC2 . v = {}", cos(&p.components[1], &v));
        // Variances 16 + 1 and 4 + 1; the sample estimate is within a few percent at n = 3000.
        assert!((p.variances[0] / 17.0 - 1.0).abs() < 0.1, "d = {d}: var1 {}", p.variances[0]);
        assert!((p.variances[1] / 5.0 - 1.0).abs() < 0.1, "d = {d}: var2 {}", p.variances[1]);
        assert!((p.mean[0] - 10.0).abs() < 0.5, "the mean is removed");
        assert!(p.explained() > 0.0 && p.explained() < 1.0);
        for c in &p.components {
            let norm: f64 = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-9);
            let big = c.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            assert!(big > 0.0, "sign convention: the largest entry is positive");
        }
        // Projections are the centred points on the components, with zero mean.
        let m0: f64 = p.projected.iter().map(|q| q[0]).sum::<f64>() / n as f64;
        assert!(m0.abs() < 1e-9);
        assert_eq!(viz::pca_2d(&x, n, d), p, "deterministic");
    }
}

#[test]
fn nearest_class_mean_accuracy_sees_separated_classes() {
    let mut rng = Rng::new(3);
    let (n, d) = (200, 5);
    let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let mut x = normals32(&mut rng, n * d);
    assert!(viz::nearest_class_mean_accuracy(&x, d, &labels) < 75.0);
    for (i, &l) in labels.iter().enumerate() {
        x[i * d] += if l == 0 { -20.0 } else { 20.0 };
    }
    assert_eq!(viz::nearest_class_mean_accuracy(&x, d, &labels), 100.0);
}

/// Every `src="..."` in the page.
fn image_sources(html: &str) -> Vec<String> {
    html.split("src=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_string()).collect()
}

#[test]
fn report_links_only_existing_files_and_shows_the_summary() {
    let dir = scratch("report");
    let input = tiny_input();
    let files = viz::write_report(&dir, &input).unwrap();
    let html_path = dir.join(viz::REPORT_HTML);
    assert_eq!(files.last(), Some(&html_path));
    for f in &files {
        assert!(f.is_file(), "{} was returned but not written", f.display());
    }
    let html = std::fs::read_to_string(&html_path).unwrap();
    let srcs = image_sources(&html);
    // 3 charts, 3 filter grids, 3 feature-map sheets.
    assert_eq!(srcs.len(), 9, "{srcs:?}");
    for s in &srcs {
        assert!(!s.contains('/') && !s.contains('\\'), "{s}: only files beside the page");
        assert!(dir.join(s).is_file(), "report.html references {s}, which does not exist");
        assert_not_blank(&dir.join(s));
    }
    for f in &files[..files.len() - 1] {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(srcs.iter().any(|s| s == name), "{name} is written but not shown");
    }
    // The summary table, cell by cell, as escaped text.
    for s in &input.summaries {
        for cell in viz::summary_cells(s) {
            assert!(html.contains(&format!(">{}</td>", viz::escape_html(&cell))), "summary cell {cell:?} missing");
        }
    }
    assert!(html.contains("<td>1,234</td>") && html.contains("<td>12.35 M</td>") && html.contains("<td>61.25</td>"));
    assert!(html.contains("<td>123.5</td>"), "peak MiB");
    // Text is escaped everywhere: the title, the descriptions and the config.
    assert!(html.contains("tiny &lt;run&gt; &amp; &quot;test&quot;"));
    assert!(html.contains("conv3x3 &lt;1&gt; &amp; relu"));
    assert!(html.contains("# &lt;not a tag&gt;"));
    assert!(!html.contains("<run>") && !html.contains("<not a tag>"));
    // Offline: nothing fetched from anywhere, no scripts.
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[test]
fn a_partial_run_still_gets_a_page() {
    let dir = scratch("partial");
    let mut input = tiny_input();
    input.summaries.clear();
    input.pooled.clear();
    input.input_images.clear();
    let files = viz::write_report(&dir, &input).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        ["training_curves.png", "filters_stage0.png", "filters_stage1.png", "filters_stage2.png", "report.html"]
    );
    let html = std::fs::read_to_string(dir.join(viz::REPORT_HTML)).unwrap();
    assert!(html.contains("No stage has finished yet."));

    let empty = viz::write_report(&scratch("empty"), &ReportInput::default()).unwrap();
    assert_eq!(empty.len(), 1);
}

#[test]
fn same_input_gives_byte_identical_files() {
    let input = tiny_input();
    let a = viz::write_report(&scratch("same-a"), &input).unwrap();
    let b = viz::write_report(&scratch("same-b"), &input.clone()).unwrap();
    assert_eq!(a.len(), b.len());
    for (fa, fb) in a.iter().zip(&b) {
        assert_eq!(fa.file_name(), fb.file_name());
        let (ba, bb) = (std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        assert!(ba == bb, "{} differs between two identical reports", fa.file_name().unwrap().to_string_lossy());
    }
}

#[test]
fn headless_chromium_renders_the_report() {
    let dir = scratch("chromium");
    viz::write_report(&dir, &tiny_input()).unwrap();
    let page = dir.join(viz::REPORT_HTML);
    let shot = dir.join("shot.png");
    chromium::screenshot(&page, &shot, (1280, 2000));
    let (w, h, px) = load(&shot);
    assert_eq!((w, h), (1280, 2000));
    assert!(variance(&px) > 0.0, "the screenshot is blank");
    // The page drew its images, not only text: some pixel carries a clearly saturated colour (the plots'
    // palette or the tile frames), which black text on white never does.
    let coloured = px.chunks_exact(3).filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 60).count();
    assert!(coloured > 1000, "only {coloured} coloured pixels: the images did not load");
}
