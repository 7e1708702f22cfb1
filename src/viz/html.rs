//! report.html: one self-contained page (inline CSS, no scripts, no network) around the PNGs beside it.

use std::fmt::Write as _;

use super::ReportInput;
use crate::metrics::StageSummary;

/// One image of the report, under a section heading.
pub(crate) struct Figure {
    pub section: &'static str,
    /// File name relative to report.html.
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub alt: String,
    /// Plain text; escaped when written.
    pub caption: String,
    /// Nearest-neighbour pixel art (weights, feature maps): keep it blocky when the browser rescales it.
    pub pixelated: bool,
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// 1234567 -> "1,234,567".
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// FLOPs with an SI prefix: "1.23 G", "45.60 M", "7.1 k", "512".
pub fn format_flops(f: u64) -> String {
    let v = f as f64;
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{f}")
    }
}

/// The cells of one summary-table row, as the report prints them (also used by tests).
pub fn summary_cells(s: &StageSummary) -> [String; 11] {
    [
        s.stage.to_string(),
        s.description.clone(),
        format_count(s.stage_params as u64),
        format_count(s.head_params as u64),
        format_flops(s.stage_flops),
        format_flops(s.head_flops),
        with_top5(s.head_acc, s.head_top5),
        with_top5(s.ensemble_acc, s.ensemble_top5),
        format!("{:.1}", s.seconds),
        format!("{:.0}", s.img_per_s),
        format!("{:.1}", s.peak_mib),
    ]
}

/// "61.25", or "61.25 (top-5 84.10)" where the top-5 accuracy was recorded.
fn with_top5(top1: f64, top5: Option<f64>) -> String {
    match top5 {
        Some(t) => format!("{top1:.2} (top-5 {t:.2})"),
        None => format!("{top1:.2}"),
    }
}

pub(crate) const CSS: &str = "
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 24px auto; max-width: 1280px; padding: 0 16px; color: #1a1a1a; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f3f8; }
td.text, th.text { text-align: left; }
tr.total td { font-weight: bold; background: #fafafa; }
figure { margin: 1em 0 1.6em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
img.pixels { image-rendering: pixelated; }
figcaption { font-size: 0.9em; color: #333; max-width: 1000px; margin-top: 0.4em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 10px; overflow: auto; font-size: 0.85em; }
.note { color: #666; font-style: italic; }
";

/// The name of the `<meta>` tag that says how many stages a report draws.
pub(crate) const STAGES_META: &str = "layerwise-stages";

pub(crate) fn render(input: &ReportInput, figures: &[Figure]) -> String {
    let e = escape_html;
    let mut h = String::new();
    let title = if input.title.is_empty() { "layerwise report" } else { input.title.as_str() };
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // How many stages the report draws, for a resumed run to tell whether it is up to date.
    let _ = writeln!(h, "<meta name=\"{STAGES_META}\" content=\"{}\">", input.filters.len());
    let _ = writeln!(h, "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>", e(title));
    let _ = writeln!(h, "<h1>{}</h1>", e(title));
    let method = input.records.first().map(|r| r.method.as_str()).unwrap_or("");
    let mut meta = Vec::new();
    if !method.is_empty() {
        meta.push(format!("method: {}", e(method)));
    }
    if !input.adapter.is_empty() {
        meta.push(format!("GPU: {}", e(&input.adapter)));
    }
    meta.push(format!("{} stage(s) finished", input.summaries.len()));
    let _ = writeln!(h, "<p class=\"meta\">{}</p>", meta.join(" &middot; "));

    summary_table(&mut h, &input.summaries);

    let mut section = "";
    for f in figures {
        if f.section != section {
            section = f.section;
            let _ = writeln!(h, "<h2>{}</h2>", e(section));
        }
        let _ = writeln!(
            h,
            "<figure>\n<img{} src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\n<figcaption>{}</figcaption>\n</figure>",
            if f.pixelated { " class=\"pixels\"" } else { "" },
            e(&f.file),
            f.width,
            f.height,
            e(&f.alt),
            e(&f.caption)
        );
    }
    if figures.is_empty() {
        h.push_str("<p class=\"note\">No figures: the run recorded nothing to draw yet.</p>\n");
    }

    h.push_str("<h2>Configuration</h2>\n");
    if input.config_toml.trim().is_empty() {
        h.push_str("<p class=\"note\">(no configuration recorded)</p>\n");
    } else {
        let _ = writeln!(h, "<pre>{}</pre>", e(&input.config_toml));
    }
    epochs_table(&mut h, input);
    h.push_str("</body>\n</html>\n");
    h
}

fn summary_table(h: &mut String, summaries: &[StageSummary]) {
    h.push_str("<h2>Summary</h2>\n");
    if summaries.is_empty() {
        h.push_str("<p class=\"note\">No stage has finished yet.</p>\n");
        return;
    }
    h.push_str("<table class=\"summary\">\n<tr><th>stage</th><th class=\"text\">description</th><th>stage params</th><th>head params</th>");
    h.push_str("<th>stage FLOPs/img</th><th>head FLOPs/img</th><th>head acc (%)</th><th>ensemble acc (%)</th>");
    h.push_str("<th>time (s)</th><th>img/s</th><th>peak GPU MiB</th></tr>\n");
    for s in summaries {
        let cells = summary_cells(s);
        h.push_str("<tr>");
        for (i, c) in cells.iter().enumerate() {
            let class = if i == 1 { " class=\"text\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", escape_html(c));
        }
        h.push_str("</tr>\n");
    }
    let params: u64 = summaries.iter().map(|s| s.stage_params as u64).sum();
    let head_params: u64 = summaries.iter().map(|s| s.head_params as u64).sum();
    let flops: u64 = summaries.iter().map(|s| s.stage_flops).sum();
    let seconds: f64 = summaries.iter().map(|s| s.seconds).sum();
    let peak = summaries.iter().map(|s| s.peak_mib).fold(0.0, f64::max);
    let head_flops: u64 = summaries.iter().map(|s| s.head_flops).sum();
    let last = summaries.iter().max_by_key(|s| s.stage).expect("non-empty");
    let _ = writeln!(
        h,
        "<tr class=\"total\"><td>all</td><td class=\"text\">total (accuracy: last stage; memory: largest)</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td></td><td>{:.1}</td></tr>",
        format_count(params),
        format_count(head_params),
        format_flops(flops),
        format_flops(head_flops),
        with_top5(last.head_acc, last.head_top5),
        with_top5(last.ensemble_acc, last.ensemble_top5),
        seconds,
        peak
    );
    h.push_str("</table>\n<p class=\"note\">FLOPs: forward multiply-adds &times; 2 per image. Peak GPU MiB: the most GPU memory held while training the stage.</p>\n");
}

fn epochs_table(h: &mut String, input: &ReportInput) {
    if input.records.is_empty() {
        return;
    }
    h.push_str("<h2>All epochs</h2>\n<details>\n<summary>");
    let _ = write!(h, "{} epoch records", input.records.len());
    h.push_str("</summary>\n<table>\n<tr><th class=\"text\">method</th><th>stage</th><th>epoch</th><th>lr</th><th>train loss</th><th>train acc (%)</th><th>val acc, own head (%)</th><th>ensemble acc (%)</th><th>head top-5 (%)</th><th>ensemble top-5 (%)</th><th>img/s</th><th>seconds</th></tr>\n");
    for r in &input.records {
        let _ = writeln!(
            h,
            "<tr><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.1}</td></tr>",
            escape_html(&r.method),
            r.stage,
            r.epoch,
            r.lr,
            r.train_loss,
            r.train_acc,
            r.head_acc(),
            r.ensemble_acc,
            r.head_top5().map_or(String::new(), |a| format!("{a:.2}")),
            r.ensemble_top5.map_or(String::new(), |a| format!("{a:.2}")),
            r.img_per_s,
            r.seconds
        );
    }
    h.push_str("</table>\n</details>\n");
}
