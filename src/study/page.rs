//! The study's report.html: one self-contained page (the run report's style sheet, no scripts, no
//! network) with the table of configs, the charts beside it, every cell, and the study file.

use std::fmt::Write as _;

use super::grid::Grid;
use super::results::{ConfigResult, Results, Stat};
use crate::viz::{escape_html as e, format_count, REPORT_CSS};

/// One chart of the page.
pub struct Figure {
    /// File name relative to report.html.
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub title: String,
    /// Plain text; escaped when written.
    pub caption: String,
}

/// What the charts show and how to read them (a reader opens the page without this code).
pub mod captions {
    pub fn accuracy(x: &str) -> String {
        format!(
            "Final validation accuracy of the last stage's head against {x}, one curve per combination of the other \
             axes (mean over the seeds that finished; bars: +- one standard deviation, drawn from two seeds on). \
             Curves are shifted sideways a little so that their bars stay apart."
        )
    }

    pub const SEPARABILITY: &str = "How linearly separable the classes are after each stage, one curve per config: \
        each stage's output averaged to 2x2 on about 1000 validation images, then the leave-one-out nearest-class-mean \
        accuracy in that feature space (an image counts as right when its class's mean feature, computed without it, \
        is the closest; a model-free measure, the one the run report prints above its PCA panels). Computed from each \
        run's final checkpoint; mean +- one standard deviation over seeds. Poorly separable shallow stages under a \
        strong local supervision are what Ma et al. (2020) blame for layerwise learning's degradation in deep nets, \
        and what earlier downsampling is meant to cure.";

    pub const STAGE_ACCURACY: &str = "Final validation accuracy of each stage's own auxiliary head, one curve per \
        config (mean +- one standard deviation over seeds). End-to-end training has a head on the last stage only.";
}

pub fn render(grid: &Grid, results: &Results, figures: &[Figure], links: &[Option<String>]) -> String {
    let mut h = String::new();
    let title = format!("study {}", grid.study.name);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>{}</title>\n<style>{REPORT_CSS}</style>\n</head>\n<body>", e(&title));
    let _ = writeln!(h, "<h1>{}</h1>", e(&title));
    let _ = writeln!(h, "<p class=\"meta\">{}</p>", e(&counts(grid, results)));
    configs_table(&mut h, grid, results);
    for f in figures {
        let _ = writeln!(
            h,
            "<h2>{}</h2>\n<figure>\n<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\n<figcaption>{}</figcaption>\n</figure>",
            e(&f.title),
            e(&f.file),
            f.width,
            f.height,
            e(&f.title),
            e(&f.caption)
        );
    }
    if figures.is_empty() {
        h.push_str("<p class=\"note\">No charts yet: no cell has finished.</p>\n");
    }
    cells_table(&mut h, results, links);
    h.push_str("<h2>Study file</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\">{}</p>\n<pre>{}</pre>",
        e(&grid.study.path.display().to_string()),
        e(&grid.study.text)
    );
    h.push_str("</body>\n</html>\n");
    h
}

/// "12 cells (6 configs x 2 seeds, 2 left out) · 10 done · 1 started · 1 new · 0 failed".
fn counts(grid: &Grid, results: &Results) -> String {
    let seeds = grid.study.seeds.len().max(1);
    let count = |state: &str| results.cells.iter().filter(|c| c.state == state).count();
    let failed = results.cells.iter().filter(|c| c.failure.is_some()).count();
    let mut s = format!(
        "{} cells ({} configs x {seeds} seed(s), {} left out by [[exclude]]) · {} done · {} started · {} new · \
         {failed} failed",
        grid.cells.len(),
        results.configs.len(),
        grid.excluded,
        count("done"),
        count("started"),
        count("new"),
    );
    if count("changed") > 0 {
        s += &format!(" · {} with a changed config (not shown)", count("changed"));
    }
    s
}

fn stat(s: &Option<Stat>, digits: usize) -> String {
    s.as_ref().map_or(String::new(), |s| s.show(digits))
}

/// Separability per stage, shallow to deep: "41.2 → 63.0 → 78.9".
fn by_stage(c: &ConfigResult) -> String {
    c.separability.iter().map(|s| format!("{:.1}", s.mean)).collect::<Vec<_>>().join(" → ")
}

fn configs_table(h: &mut String, grid: &Grid, results: &Results) {
    h.push_str("<h2>Configs</h2>\n<table>\n<tr>");
    for a in &grid.study.axes {
        let _ = write!(h, "<th class=\"text\">{}</th>", e(&a.name));
    }
    h.push_str("<th>seeds done</th><th>final acc, last head (%)</th><th>ensemble acc (%)</th><th>time (s)</th>");
    h.push_str("<th>parameters</th><th class=\"text\">separability by stage (%)</th></tr>\n");
    for c in &results.configs {
        h.push_str("<tr>");
        for v in &c.values {
            let _ = write!(h, "<td class=\"text\">{}</td>", e(&v.value));
        }
        let _ = writeln!(
            h,
            "<td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            c.done,
            c.cells.len(),
            stat(&c.head_acc, 2),
            stat(&c.ensemble_acc, 2),
            c.seconds.as_ref().map_or(String::new(), |s| format!("{:.0}", s.mean)),
            c.params.map_or(String::new(), format_count),
            e(&by_stage(c))
        );
    }
    h.push_str(
        "</table>\n<p class=\"note\">Mean ± sample standard deviation over the seeds that finished. Time: wall \
         time of a run (evaluation and resumes included), mean over seeds. Parameters: every stage and the last \
         head (what the trained network keeps). Separability: nearest-class-mean accuracy of each stage's pooled \
         features (see the chart below).</p>\n",
    );
}

fn cells_table(h: &mut String, results: &Results, links: &[Option<String>]) {
    h.push_str("<h2>Cells</h2>\n<details>\n<summary>");
    let _ = write!(h, "{} run folders (under runs/)", results.cells.len());
    h.push_str(
        "</summary>\n<table>\n<tr><th class=\"text\">run folder</th><th>seed</th><th class=\"text\">status</th>",
    );
    h.push_str("<th>final acc (%)</th><th>ensemble acc (%)</th><th>time (s)</th></tr>\n");
    for (c, link) in results.cells.iter().zip(links) {
        let name = match link {
            Some(l) => format!("<a href=\"{}\">{}</a>", e(l), e(&c.name)),
            None => e(&c.name),
        };
        let m = c.measures.as_ref();
        let _ = writeln!(
            h,
            "<tr><td class=\"text\">{name}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.seed,
            e(&c.status),
            m.map_or(String::new(), |m| format!("{:.2}", m.head_acc)),
            m.map_or(String::new(), |m| format!("{:.2}", m.ensemble_acc)),
            m.map_or(String::new(), |m| format!("{:.0}", m.seconds)),
        );
    }
    h.push_str("</table>\n</details>\n");
}
