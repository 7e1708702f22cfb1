//! The visual report of a run: what each stage's filters look like, what its feature maps show, how
//! separable its representation is, and how training went, as PNGs and a `report.html` that opens offline.
//!
//! Everything here works on plain host data the trainer hands over (no GPU), and is deterministic: the
//! same inputs give byte-identical files, so a resumed run reports exactly as an uninterrupted one.

mod curves;
mod features;
mod filters;
mod html;
pub mod pca;
mod plots;
mod raster;
mod separability;
mod text;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::metrics::{EpochRecord, StageSummary};

pub use curves::{curves_png, Curve, CurvePanel, CurvePoint, CurvesChart, XAxis};
pub use features::{feature_maps_png, strongest_channels, MAX_FEATURE_IMAGES};
pub use filters::{
    filter_grid_png, filter_view, render_filter_grid, FilterGrid, FilterTile, FilterView, SLICES_PER_FILTER,
};
/// The report's style sheet, shared by every page the report machinery writes.
pub(crate) use html::CSS as REPORT_CSS;
pub use html::{escape_html, format_count, format_flops, summary_cells};
pub use pca::{pca_2d, Pca2};
pub use plots::{accuracy_vs_depth_png, training_curves_png};
pub use separability::{nearest_class_mean_accuracy, separability_png};

/// One stage's convolution weights.
#[derive(Debug, Clone, PartialEq)]
pub struct StageWeights {
    pub stage: usize,
    /// [Cout, KH, KW, Cin]
    pub shape: [usize; 4],
    /// In that layout.
    pub weights: Vec<f32>,
    /// The stage's input was a 2x2 space-to-depth of the previous stage's output (channel
    /// (dh * 2 + dw) * C_prev + c), so Cin = 4 C_prev.
    pub space_to_depth: bool,
}

/// One stage's output on the report's fixed images.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSample {
    pub stage: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// [n_images, H, W, C]
    pub maps: Vec<f32>,
}

/// Everything `write_report` draws; the trainer fills it from memory.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub title: String,
    /// The run's configuration, shown verbatim.
    pub config_toml: String,
    /// The GPU adapter, as one line.
    pub adapter: String,
    pub records: Vec<EpochRecord>,
    pub summaries: Vec<StageSummary>,
    /// Epochs (within a stage) after which the learning rate was multiplied by its decay.
    pub lr_steps: Vec<usize>,
    pub filters: Vec<StageWeights>,
    /// [n_images, H, W, C] bytes: the fixed validation images the feature maps are computed on.
    pub input_images: Vec<u8>,
    /// [H, W, C]
    pub input_shape: [usize; 3],
    /// Per stage, on those same images.
    pub features: Vec<FeatureSample>,
    /// (stage, [n, d] pooled features of ~1000 validation images, d).
    pub pooled: Vec<(usize, Vec<f32>, usize)>,
    /// [n]: the class of each pooled image.
    pub pooled_labels: Vec<u32>,
    pub class_names: Vec<String>,
}

/// Filters drawn per stage when each is a patch (filters on the image), and when each is a row of slices.
pub const PATCH_FILTERS: usize = 64;
pub const SLICE_FILTERS: usize = 16;
/// Feature-map channels drawn per stage.
pub const FEATURE_CHANNELS: usize = 8;

const FILTERS: &str = "Filters";
const FEATURES: &str = "Feature maps";

/// Name of the page `write_report` writes.
pub const REPORT_HTML: &str = "report.html";

/// How many stages the report in `dir` draws (None: no report, or one without that mark).
pub fn report_stages(dir: &Path) -> Option<usize> {
    let page = std::fs::read_to_string(dir.join(REPORT_HTML)).ok()?;
    let mark = format!("<meta name=\"{}\" content=\"", html::STAGES_META);
    let rest = &page[page.find(&mark)? + mark.len()..];
    rest[..rest.find('"')?].parse().ok()
}

/// Write every figure the input has data for as a PNG, and `report.html` around them, into `dir` (created
/// if needed). Returns the files written, report.html last. Sections with no data are left out.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut figures = Vec::new();
    let mut add = |section: &'static str, file: String, alt: String, caption: String| -> Result<()> {
        let path = dir.join(&file);
        let (width, height) =
            image::image_dimensions(&path).map_err(|e| Error::data(&path, format!("reading back: {e}")))?;
        let pixelated = section == FILTERS || section == FEATURES;
        figures.push(html::Figure { section, file, width, height, alt, caption, pixelated });
        Ok(())
    };

    if !input.records.is_empty() {
        let file = "training_curves.png".to_string();
        training_curves_png(&input.records, &input.lr_steps, &dir.join(&file))?;
        add(
            "Training curves",
            file,
            "training loss and accuracy per stage".into(),
            captions::training_curves(&input.lr_steps),
        )?;
    }
    if !input.summaries.is_empty() {
        let file = "accuracy_vs_depth.png".to_string();
        accuracy_vs_depth_png(&input.summaries, &dir.join(&file))?;
        add("Accuracy against depth", file, "accuracy against depth".into(), captions::ACCURACY_VS_DEPTH.into())?;
    }
    if !input.pooled.is_empty() {
        let file = "separability.png".to_string();
        separability_png(&input.pooled, &input.pooled_labels, &input.class_names, &dir.join(&file))?;
        let caption = captions::separability(input.pooled_labels.len());
        add("Linear separability", file, "PCA projection of each stage's pooled features".into(), caption)?;
    }
    let mut filters: Vec<&StageWeights> = input.filters.iter().collect();
    filters.sort_by_key(|w| w.stage);
    for w in filters {
        let max = match filter_view(w) {
            FilterView::Patches { .. } => PATCH_FILTERS,
            FilterView::Slices { .. } => SLICE_FILTERS,
        };
        let grid = render_filter_grid(w, max)?;
        let file = format!("filters_stage{}.png", w.stage);
        raster::save_rgb_png(&dir.join(&file), grid.width, grid.height, &grid.rgb)?;
        add(FILTERS, file, format!("filters of stage {}", w.stage), captions::filters(w, &grid))?;
    }
    if !input.input_images.is_empty() {
        let mut features: Vec<&FeatureSample> = input.features.iter().collect();
        features.sort_by_key(|f| f.stage);
        for f in features {
            let file = format!("features_stage{}.png", f.stage);
            feature_maps_png(&input.input_images, input.input_shape, f, &dir.join(&file), FEATURE_CHANNELS)?;
            let [ih, iw, ic] = input.input_shape;
            let n = input.input_images.len() / (ih * iw * ic).max(1);
            let caption = captions::features(f, n.min(MAX_FEATURE_IMAGES), FEATURE_CHANNELS.min(f.channels));
            add(FEATURES, file, format!("feature maps of stage {}", f.stage), caption)?;
        }
    }

    let mut written: Vec<PathBuf> = figures.iter().map(|f| dir.join(&f.file)).collect();
    // Last, and atomically (as every image): a page whose stage count is up to date shows whole files.
    let page = dir.join(REPORT_HTML);
    crate::fsutil::atomic_write(&page, html::render(input, &figures).as_bytes())?;
    written.push(page);
    Ok(written)
}

/// The figure captions: what is drawn and how to read it, since a reader opens the page without this code.
mod captions {
    use super::{FeatureSample, FilterGrid, FilterView, StageWeights};

    pub fn training_curves(lr_steps: &[usize]) -> String {
        let mut s = "Training loss (left) and accuracy (right) against the epoch within each stage, one colour per \
                     stage. Solid: validation accuracy of the stage's own auxiliary head; dashed: training accuracy \
                     (mean over the epoch's augmented batches)."
            .to_string();
        if !lr_steps.is_empty() {
            let steps: Vec<String> = lr_steps.iter().map(|s| s.to_string()).collect();
            s += &format!(
                " Grey dashed lines: the learning rate was multiplied by its decay after epoch {}.",
                steps.join(", ")
            );
        }
        s
    }

    pub const ACCURACY_VS_DEPTH: &str = "Final validation accuracy after each stage: of that stage's own auxiliary \
        head, and of the ensemble of heads 0..=stage (head j weighted 2^j). Greedy layerwise training should keep \
        improving with depth; a flattening curve says further stages add little.";

    pub fn separability(n: usize) -> String {
        format!(
            "Each stage's output, pooled over space, on {n} validation images, projected onto its top two principal \
             components (PCA of the centred features; each component's sign is fixed so its largest entry is \
             positive). Colours are classes. Above each panel: the nearest-class-mean accuracy in the full \
             d-dimensional space (an image counts as right when its class's mean feature, computed without it, is \
             the closest one), a model-free measure of how linearly separable the classes are, and the share of the variance the two \
             drawn components hold. Deeper stages should pull the classes apart."
        )
    }

    pub fn filters(w: &StageWeights, g: &FilterGrid) -> String {
        let [cout, kh, kw, cin] = w.shape;
        let [dh, dw, dc] = g.kernel;
        let n = g.filters_shown.len();
        let which = if n == cout {
            format!("all {cout} filters")
        } else {
            format!("the {n} of {cout} filters with the largest L2 norm, strongest first")
        };
        let mut s = format!("Stage {}: {which} (#N: the filter index). ", w.stage);
        match g.view {
            FilterView::Patches { rgb } => {
                s += &format!(
                    "Each filter is a {dh}x{dw} {} patch, enlarged with nearest-neighbour. Each filter is normalised on \
                     its own, symmetrically around 0: mid-grey is 0, white its largest |weight| with positive sign, \
                     black the same with negative sign{}.",
                    if rgb { "RGB" } else { "grey" },
                    if rgb { " (one scale for the three colour channels, so grey means all channels near 0)" } else { "" }
                );
            }
            FilterView::Slices { per_filter } => {
                s += &format!(
                    "A filter here reads {dc} input channels, too many to draw as one picture, so each row shows its \
                     {per_filter} input-channel slices ({dh}x{dw}) with the largest L2 norm, strongest first (cN: the \
                     input channel). All slices of a filter share one scale, symmetric around 0 (mid-grey 0, white \
                     and black +- the filter's largest |weight|), so weak slices look flat. On the right: the share \
                     of the filter's squared norm held by the drawn slices (a high share means it reads from few \
                     channels); |w| is its L2 norm."
                );
            }
        }
        if g.unfolded {
            s += &format!(
                " This stage starts with a 2x2 space-to-depth, so its {kh}x{kw}x{cin} filters are drawn as the \
                 equivalent {dh}x{dw}x{dc} filters over the previous stage's output (input channel (dh*2+dw)*{dc}+c \
                 at tap (kh, kw) is tap (2kh+dh, 2kw+dw) of channel c): what each filter sees at full resolution; \
                 channel numbers refer to the previous stage's channels."
            );
        }
        s
    }

    pub fn features(f: &FeatureSample, n: usize, k: usize) -> String {
        format!(
            "Stage {} output ({}x{}x{}) on {n} fixed validation images (left column): the {k} channels with the \
             largest mean activation over these images, as grey maps enlarged with nearest-neighbour. Each column \
             has one scale for all rows: black is min(0, the channel's lowest value), white its highest.",
            f.stage, f.height, f.width, f.channels
        )
    }
}
