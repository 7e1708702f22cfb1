//! `layerwise study`: the study file and its grid (cells, names, configs, exclusions, every bad file a
//! usage error), the config comparison, the curves chart, and on real Fashion-MNIST a tiny study end to
//! end: its report, a rerun that trains nothing, an edited study file refused, a failed cell recorded
//! while the others train, and a study killed mid-cell that resumes to the same numbers.

mod chromium;
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use layerwise::checkpoint::Checkpoint;
use layerwise::config::Config;
use layerwise::study::{self, Grid, Stat, Study};
use layerwise::viz::{self, Curve, CurvePanel, CurvePoint, CurvesChart, XAxis};
use support::{bin, expect_fail, text};

fn parse(text: &str) -> layerwise::Result<Study> {
    Study::parse(text, Path::new("/nowhere/s.toml"))
}

fn grid(text: &str) -> layerwise::Result<Grid> {
    Grid::new(parse(text)?)
}

/// The usage error `r` ends with, which must contain `needle`.
#[track_caller]
fn usage_error<T: std::fmt::Debug>(r: layerwise::Result<T>, needle: &str) {
    match r {
        Err(layerwise::Error::Usage(m)) => assert!(m.contains(needle), "`{needle}` not in: {m}"),
        other => panic!("expected a usage error containing `{needle}`, got {other:?}"),
    }
}

const GRID: &str = r#"
preset = "fmnist-quick"
set = ["epochs=1"]
seeds = [5, 7]

[[axis]]
key = "method"
values = ["greedy", "dgl", "e2e"]

[[axis]]
key = "stages.0.width"
name = "width"
values = [8, 16]

[[axis]]
name = "heads"
variants = [
  { name = "conv" },
  { name = "mlp sr", preset = "dgl-fmnist", set = ["epochs=3"] },
]

[[exclude]]
method = "e2e"
width = [8]

[[exclude]]
method = ["greedy", "dgl"]
heads = "mlp sr"
width = 16
"#;

#[test]
fn the_grid_is_the_product_minus_exclusions_seed_by_seed() {
    let g = grid(GRID).unwrap();
    assert_eq!(g.study.name, "s", "named after the file");
    // 3 x 2 x 2 = 12 configs, less e2e at width 8 (2) and greedy/dgl with mlp sr at width 16 (2).
    assert_eq!((g.cells.len(), g.excluded), (16, 4));
    let names: Vec<&str> = g.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names[0], "method=greedy,width=8,heads=conv,seed=5");
    assert_eq!(names[1], "method=greedy,width=8,heads=mlp_sr,seed=5", "folder-safe labels");
    assert_eq!(names[8], "method=greedy,width=8,heads=conv,seed=7", "all configs of one seed first");
    assert!(!names.iter().any(|n| n.contains("e2e,width=8") || n.contains("greedy,width=16,heads=mlp")));
    for c in &g.cells {
        let cfg = &c.config;
        assert_eq!(cfg.name, c.name);
        assert_eq!(cfg.seed, c.seed);
        let mlp = c.name.contains("mlp_sr");
        // The variant's preset replaces the base; the study's overrides come first, the variant's after.
        assert_eq!(cfg.epochs, if mlp { 3 } else { 1 }, "{}", c.name);
        let base = Config::preset(if mlp { "dgl-fmnist" } else { "fmnist-quick" }).unwrap();
        assert_eq!(cfg.stages[1], base.stages[1], "{}", c.name);
        assert_eq!(cfg.stages[0].width, if c.name.contains("width=8") { 8 } else { 16 });
        assert_eq!(layerwise::train::state::method_name(cfg.method), g.labels(&c.choices)[0]);
    }
    assert_eq!(g.varying_axes(), vec![0, 1, 2]);
    assert_eq!(g.study.x, Some(0), "the first axis by default");
}

#[test]
fn bad_study_files_are_usage_errors() {
    let axis = "[[axis]]\nkey = \"method\"\nvalues = [\"greedy\", \"dgl\"]\n";
    let base = "preset = \"fmnist-quick\"\n";
    usage_error(parse(axis), "needs a base");
    usage_error(parse(&format!("{base}config = \"x.toml\"\n{axis}")), "not both");
    usage_error(parse(&format!("{base}colour = 3\n")), "unknown field");
    usage_error(parse(&format!("{base}seeds = [1, 1]\n")), "seed 1 is listed twice");
    usage_error(parse(&format!("{base}[[axis]]\nkey = \"epochs\"\n")), "give `key` with `values`");
    usage_error(parse(&format!("{base}[[axis]]\nkey = \"epochs\"\nvalues = []\n")), "no values");
    usage_error(parse(&format!("{base}[[axis]]\nkey = \"epochs\"\nvalues = [1, 1]\n")), "used twice");
    usage_error(parse(&format!("{base}[[axis]]\nvariants = [{{ name = \"a\" }}]\n")), "needs a `name`");
    usage_error(parse(&format!("{base}{axis}{axis}")), "used twice");
    usage_error(parse(&format!("{base}[[axis]]\nkey = \"seed\"\nvalues = [1]\n")), "reserved");
    usage_error(parse(&format!("{base}{axis}[[exclude]]\nwidth = 3\n")), "`width` is not an axis");
    usage_error(parse(&format!("{base}{axis}[[exclude]]\nmethod = \"e2e\"\n")), "has no value \"e2e\"");
    usage_error(parse(&format!("{base}{axis}[[exclude]]\n")), "every cell");
    usage_error(parse(&format!("{base}{axis}[report]\nx = \"modules\"\n")), "not an axis");
    usage_error(grid(&format!("{base}{axis}[[exclude]]\nmethod = [\"greedy\", \"dgl\"]\n")), "leave no cell");
    usage_error(grid(&format!("{base}[[axis]]\nkey = \"modulez\"\nvalues = [2]\n")), "unknown field");
    usage_error(grid(&format!("{base}[[axis]]\nkey = \"epochs\"\nvalues = [0]\n")), "epochs must be at least 1");
    usage_error(grid("preset = \"nope\"\n"), "unknown preset `nope`");
    let two_bases = format!(
        "{base}[[axis]]\nname = \"a\"\nvariants = [{{ name = \"x\", preset = \"dgl-fmnist\" }}]\n\
         [[axis]]\nname = \"b\"\nvariants = [{{ name = \"y\", preset = \"fmnist-k2\" }}]\n"
    );
    usage_error(grid(&two_bases), "at most one may");
    let clash = format!("{base}[[axis]]\nkey = \"name\"\nvalues = [\"a b\", \"a/b\"]\n");
    usage_error(grid(&clash), "would share a run folder");
}

#[test]
fn the_shipped_studies_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/studies");
    let fmnist = Grid::new(Study::load(&dir.join("fmnist-methods.toml")).unwrap()).unwrap();
    assert_eq!(fmnist.cells.len(), 18, "3 methods x 2 schedules x 3 seeds");
    let plain = &fmnist.cells[0].config;
    let accelerated = &fmnist.cells[1].config;
    assert!(fmnist.cells[1].name.contains("accelerated"));
    assert_eq!(plain.stages.iter().map(|s| s.width).collect::<Vec<_>>(), [16, 32, 64]);
    assert_eq!(
        plain.stages.iter().map(|s| s.width).collect::<Vec<_>>(),
        accelerated.stages.iter().map(|s| s.width).collect::<Vec<_>>()
    );
    // The ResNet grid: greedy and DGL at K = 2 and 4, end to end at K = 1, each plain and accelerated.
    let resnet = Study::load(&dir.join("resnet20-cifar.toml")).unwrap();
    let axes: Vec<&str> = resnet.axes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(axes, ["method", "modules", "downsampling"]);
    assert_eq!((resnet.exclusions.len(), resnet.x, resnet.panels), (2, Some(1), Some(2)));
    let resnet = Grid::new(resnet).unwrap();
    assert_eq!(resnet.cells.len(), 20, "(2 methods x 2 K + e2e) x 2 schedules x 2 seeds");
    for c in &resnet.cells {
        let downsample_at = &c.config.arch.as_ref().unwrap().downsample_at;
        let want: &[usize] = if c.name.contains("accelerated") { &[1, 2] } else { &[3, 6] };
        assert_eq!((downsample_at.as_slice(), c.config.max_train_images), (want, 10000), "{}", c.name);
        let k = if c.name.contains("e2e") { vec![1] } else { vec![2, 4] };
        assert!(k.contains(&c.config.stage_count()), "{}", c.name);
    }
}

#[test]
fn config_differences_name_every_changed_key() {
    let a = Config::preset("fmnist-quick").unwrap();
    let b = a.with_overrides(&["epochs=4".into(), "stages.1.head.k=2".into(), "cache.train=true".into()]).unwrap();
    assert!(study::differences(&a, &a).is_empty());
    let d = study::differences(&a, &b);
    let keys: Vec<&str> = d.iter().map(|x| x.key.as_str()).collect();
    assert_eq!(keys, ["epochs", "stages.1.head.k"], "{d:?}");
    assert_eq!((d[0].saved.as_str(), d[0].now.as_str()), ("3", "4"));
    let c = a.with_overrides(&["dgl.buffer_size=4".into()]).unwrap();
    assert_eq!(study::differences(&a, &c)[0].key, "dgl", "a whole table that one side lacks");
}

#[test]
fn stats_are_mean_and_sample_std() {
    let s = Stat::of(&[1.0, 2.0, 3.0, 6.0]).unwrap();
    assert_eq!((s.mean, s.n), (3.0, 4));
    assert!((s.std.unwrap() - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(s.show(1), "3.0 ± 2.2");
    assert_eq!(Stat::of(&[2.5]).unwrap().std, None);
    assert!(Stat::of(&[]).is_none());
}

#[test]
fn curves_chart_draws_panels_and_refuses_nothing_to_draw() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("study-curves");
    std::fs::create_dir_all(&dir).unwrap();
    let pt = |x: f64, mean: f64, std: Option<f64>| CurvePoint { x, mean, std };
    let curve = |label: &str, off: f64| Curve {
        label: label.into(),
        points: vec![pt(0.0, 40.0 + off, Some(2.0)), pt(1.0, 60.0 + off, None), pt(2.0, 75.0 + off, Some(1.5))],
    };
    let panel = |t: &str| CurvePanel { title: t.into(), curves: vec![curve("greedy", 0.0), curve("dgl", 5.0)] };
    let mut chart = CurvesChart {
        x: XAxis::Categories(vec!["1".into(), "2".into(), "4".into()]),
        x_desc: "modules".into(),
        y_desc: "accuracy (%)".into(),
        percent: true,
        panels: vec![panel("plain"), panel("accelerated"), panel("third")],
    };
    let p = dir.join("three.png");
    viz::curves_png(&chart, &p).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    // Two 600 x 420 panels to a row, two rows, and one legend row for the two labels.
    assert_eq!((img.width(), img.height()), (1200, 2 * 420 + 16 + 22));
    // Each label has one colour in every panel: palette 0 (blue) and 1 (orange) both appear.
    let has = |c: [u8; 3]| img.pixels().any(|px| px.0 == c);
    assert!(has([31, 119, 180]) && has([255, 127, 14]));
    chart.x = XAxis::Whole;
    chart.panels.truncate(1);
    viz::curves_png(&chart, &dir.join("one.png")).unwrap();
    chart.panels[0].curves.clear();
    assert!(viz::curves_png(&chart, &dir.join("none.png")).is_err());
}

// ---- Studies on real Fashion-MNIST -------------------------------------------------------------------

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

/// 2 configs (greedy, DGL) x 2 seeds of a 3-stage net on 512 training images, 1 epoch, checkpointing at
/// every chance (so a kill always finds a recent one).
const TINY: &str = r#"
name = "tiny"
preset = "fmnist-quick"
set = ["epochs=1", "max_train_images=512", "max_val_images=300", "batch_size=64", "optimizer.lr=0.05",
       "stages.0.width=4", "stages.1.width=8", "stages.2.width=8", "checkpoint_minutes=0.000001"]
seeds = [0, 1]

[[axis]]
key = "method"
values = ["greedy", "dgl"]
"#;

const CELLS: [&str; 4] = ["method=greedy,seed=0", "method=dgl,seed=0", "method=greedy,seed=1", "method=dgl,seed=1"];

/// `layerwise study --quiet FILE --out DIR ARGS..`.
fn study_cmd(file: &Path, out: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.args(["study", "--quiet", file.to_str().unwrap(), "--out", out.to_str().unwrap()]).args(args);
    c
}

fn study(file: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    study_cmd(file, out, args).output().unwrap()
}

/// The tiny study trained once without interruption: (its temporary folder, its file, its folder),
/// shared by the tests.
fn reference() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static REF: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    REF.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let file = support::write_config(tmp.path(), "tiny", TINY);
        let out = tmp.path().join("study");
        let o = study(&file, &out, &[]);
        assert!(o.status.success(), "{}", text(&o));
        (tmp, file, out)
    })
}

/// results.json without what differs between any two runs (wall time, checkpoint bytes that hold it).
fn numbers(out: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["seconds", "checkpoint_md5", "status"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(study::RESULTS_JSON)).unwrap()).unwrap();
    strip(&mut v);
    v
}

/// Every `src="..."` and `href="..."` of a page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        out.extend(html.split(attr).skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_string()));
    }
    out
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn tiny_study_end_to_end_then_rerun_edit_and_redraw() {
    if !gpu_available() {
        return;
    }
    let (_, file, out) = reference();
    for c in CELLS {
        let run = out.join("runs").join(c);
        for f in ["config.toml", "checkpoint.safetensors", "summary.json", study::MEASURES_FILE] {
            assert!(run.join(f).is_file(), "{c}: {f} missing");
        }
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(study::RESULTS_JSON)).unwrap()).unwrap();
    let configs = results["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    for c in configs {
        assert_eq!(c["done"], 2);
        let acc = c["head_acc"]["mean"].as_f64().unwrap();
        assert!((10.0..=100.0).contains(&acc), "{c}");
        assert_eq!(c["separability"].as_array().unwrap().len(), 3, "one value per stage");
        assert_eq!(c["head_acc"]["n"], 2);
    }
    // DGL's stage 0 trains exactly as greedy's (same data order, head and loss, nothing from above).
    let sep = |i: usize| configs[i]["separability"][0]["mean"].as_f64().unwrap();
    assert_eq!(sep(0), sep(1));

    // The page shows only files that exist, and Chromium draws it with its charts.
    let html = std::fs::read_to_string(out.join(study::REPORT_HTML)).unwrap();
    let refs = references(&html);
    for f in ["accuracy.png", "separability.png", "stage_accuracy.png"] {
        assert!(refs.iter().any(|r| r == f), "{f} not shown: {refs:?}");
    }
    for r in &refs {
        assert!(out.join(r).is_file(), "report.html references {r}, which does not exist");
    }
    assert!(html.contains("4 done") && html.contains("<td>2 / 2</td>"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
    let shot = out.join("shot.png");
    chromium::screenshot(&out.join(study::REPORT_HTML), &shot, (1280, 2400));
    let px = image::open(&shot).unwrap().to_rgb8();
    let coloured = px.pixels().filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60).count();
    assert!(coloured > 1000, "only {coloured} coloured pixels: the charts did not load");

    // A rerun finds every cell finished: it trains and measures nothing.
    let ckpt = out.join("runs").join(CELLS[0]).join("checkpoint.safetensors");
    let before = (mtime(&ckpt), numbers(out));
    let t0 = Instant::now();
    let o = study(file, out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(2 of 2 seeds)"), "{}", text(&o));
    assert_eq!((mtime(&ckpt), numbers(out)), before, "nothing changed ({:.1} s)", t0.elapsed().as_secs_f64());

    // An edit that changes the finished cells' configs is refused before anything trains, naming the key.
    let edited = file.with_file_name("edited.toml");
    std::fs::write(&edited, TINY.replace("\"epochs=1\"", "\"epochs=2\"")).unwrap();
    expect_fail(&study(&edited, out, &[]), 2, "epochs: 1 in the run folder, 2 in the study");
    assert_eq!(mtime(&ckpt), before.0);
    let d = study(&edited, out, &["--dry-run"]);
    assert!(d.status.success() && text(&d).matches("config changed (epochs)").count() == 4, "{}", text(&d));

    // The dry run of the real file lists each cell with what it sets, and where it stands.
    let d = study(file, out, &["--dry-run"]);
    let t = text(&d);
    assert!(t.contains("4 cells (2 configs x 2 seed(s)") && t.contains("[2/4] method=dgl,seed=0: done"), "{t}");
    assert!(t.contains("    method = \"dgl\"") && t.contains("    seed = 1"), "{t}");

    // --report-only redraws the same numbers from the run folders.
    std::fs::remove_file(out.join(study::REPORT_HTML)).unwrap();
    let r = study(file, out, &["--report-only"]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(out.join(study::REPORT_HTML).is_file());
    assert_eq!(numbers(out), before.1);
}

#[test]
fn a_killed_study_resumes_to_the_same_numbers() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = support::write_config(tmp.path(), "tiny", TINY);
    let out = tmp.path().join("study");
    // Kill once the third cell (greedy, seed 1) is part-way: the first two are finished by then.
    let third = out.join("runs").join(CELLS[2]).join("checkpoint.safetensors");
    let mut child = study_cmd(&file, &out, &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        if let Ok(c) = Checkpoint::read(&third) {
            let p = c.meta.progress;
            if p.stage < 3 && (p.stage > 0 || p.epoch > 0 || p.step > 0) {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the study finished before it could be killed");
        assert!(t0.elapsed() < Duration::from_secs(600), "the third cell never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Checkpoint::read(&third).unwrap().meta.progress;
    let d = study(&file, &out, &["--dry-run"]);
    assert!(text(&d).contains("[3/4] method=greedy,seed=1: started (checkpoint at stage"), "{}", text(&d));
    let o = study(&file, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, _, reference) = reference();
    assert_eq!(numbers(&out), numbers(reference), "resumed after a kill at {killed_at:?}");
}

#[test]
fn a_failed_cell_is_recorded_and_the_study_goes_on() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The second batch size is larger than the training set: that cell fails before it trains.
    let text_ = TINY
        .replace("seeds = [0, 1]", "")
        .replace("key = \"method\"\nvalues = [\"greedy\", \"dgl\"]", "key = \"batch_size\"\nvalues = [100000, 64]");
    let file = support::write_config(tmp.path(), "failing", &text_);
    let out = tmp.path().join("study");
    for _ in 0..2 {
        let o = study(&file, &out, &[]);
        expect_fail(&o, 1, "1 of 2 cells failed");
        let failure = out.join("runs/batch_size=100000,seed=0").join(study::FAILURE_FILE);
        let why = std::fs::read_to_string(&failure).unwrap();
        assert!(why.contains("larger than the 512 training images"), "{why}");
        assert!(out.join("runs/batch_size=64,seed=0").join(study::MEASURES_FILE).is_file());
        let html = std::fs::read_to_string(out.join(study::REPORT_HTML)).unwrap();
        assert!(html.contains("1 done") && html.contains("1 failed"), "{html}");
    }
}
