//! The study file: a base config, the axes of the grid (each a config key with its values, or named
//! variants that set several keys at once or start from another preset), the seeds, the cells left
//! out, and what the report puts on its x axis. Read and checked here, before any cell is built.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;
use crate::error::{Error, IoContext, Result};

/// A check's outcome: the message becomes a usage error naming the study file.
type Checked<T> = std::result::Result<T, String>;

/// The file as written (see the README's "Studies" section for the format).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    name: Option<String>,
    preset: Option<String>,
    config: Option<PathBuf>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    seeds: Vec<u64>,
    #[serde(default, rename = "axis")]
    axes: Vec<AxisFile>,
    #[serde(default, rename = "exclude")]
    exclusions: Vec<toml::Table>,
    #[serde(default)]
    report: ReportFile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisFile {
    key: Option<String>,
    name: Option<String>,
    values: Option<Vec<toml::Value>>,
    variants: Option<Vec<VariantFile>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: String,
    preset: Option<String>,
    config: Option<PathBuf>,
    #[serde(default)]
    set: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFile {
    x: Option<String>,
    panels: Option<String>,
}

/// Where a config starts: a shipped preset or a config file.
#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    Preset(String),
    /// Resolved against the study file's folder.
    File(PathBuf),
}

impl std::fmt::Display for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Base::Preset(p) => write!(f, "preset {p}"),
            Base::File(path) => write!(f, "config file {}", path.display()),
        }
    }
}

impl Base {
    pub fn load(&self) -> Result<Config> {
        match self {
            Base::Preset(p) => Config::preset(p),
            Base::File(f) => Config::load(f),
        }
    }
}

/// One value of an axis: its label (in folder names, tables and legends), and what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    /// A variant may start from another preset or config file instead of the study's base.
    pub base: Option<Base>,
    /// `key=value` overrides, as `--set` takes them.
    pub sets: Vec<String>,
    /// A key axis's value as written (what `[[exclude]]` tables match); None for a variant.
    value: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    pub choices: Vec<Choice>,
}

/// A checked study: everything needed to build its cells.
#[derive(Debug, Clone)]
pub struct Study {
    pub name: String,
    /// The study file and its text (shown in the report).
    pub path: PathBuf,
    pub text: String,
    pub base: Base,
    /// Overrides every cell gets, before its axes' own.
    pub sets: Vec<String>,
    /// Empty: every cell keeps its config's own seed.
    pub seeds: Vec<u64>,
    pub axes: Vec<Axis>,
    /// Each exclusion: per axis it names, the choice indices it matches; a cell matching every entry
    /// of one exclusion is left out.
    pub exclusions: Vec<Vec<(usize, Vec<usize>)>>,
    /// The axis the accuracy chart puts on its x axis (None when there are no axes).
    pub x: Option<usize>,
    /// The axis whose values get a chart panel each.
    pub panels: Option<usize>,
}

/// Labels must stay readable in folder names: key axes show their values as TOML writes them,
/// strings without quotes.
fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Study {
    pub fn load(path: &Path) -> Result<Study> {
        let text = std::fs::read_to_string(path).at(path)?;
        Study::parse(&text, path)
    }

    /// `text` is the content of the study file at `path` (relative config paths start from its folder).
    pub fn parse(text: &str, path: &Path) -> Result<Study> {
        let origin = path.display().to_string();
        let f: StudyFile = toml::from_str(text).map_err(|e| Error::usage(format!("study file {origin}: {e}")))?;
        let usage = |m: String| Error::usage(format!("study file {origin}: {m}"));
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let base = base_of(f.preset, f.config, &dir)
            .map_err(usage)?
            .ok_or_else(|| usage("needs a base: `preset = \"NAME\"` or `config = \"FILE\"`".into()))?;
        let name = match f.name {
            Some(n) => n,
            None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "study".into()),
        };
        if name.trim().is_empty() || name.contains(['/', '\\']) {
            return Err(usage(format!("name `{name}` must be non-empty and without slashes (it names the folder)")));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(s) = f.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(usage(format!("seed {s} is listed twice")));
        }
        let axes = f.axes.into_iter().enumerate().map(|(i, a)| axis(a, i, &dir)).collect::<Checked<Vec<_>>>();
        let axes = axes.map_err(usage)?;
        let mut names = std::collections::BTreeSet::new();
        for a in &axes {
            if a.name == "seed" || !names.insert(a.name.as_str()) {
                return Err(usage(format!("axis name `{}` is reserved or used twice", a.name)));
            }
        }
        let exclusions = f.exclusions.iter().map(|t| exclusion(t, &axes)).collect::<Checked<Vec<_>>>();
        let find = |n: &Option<String>, what: &str| -> Checked<Option<usize>> {
            match n {
                None => Ok(None),
                Some(n) => axes
                    .iter()
                    .position(|a| &a.name == n)
                    .map(Some)
                    .ok_or_else(|| format!("report.{what} = `{n}` is not an axis (axes: {})", axis_names(&axes))),
            }
        };
        let x = find(&f.report.x, "x").map_err(usage)?.or((!axes.is_empty()).then_some(0));
        let panels = find(&f.report.panels, "panels").map_err(usage)?;
        Ok(Study {
            name,
            path: path.to_path_buf(),
            text: text.to_string(),
            base,
            sets: f.set,
            seeds: f.seeds,
            exclusions: exclusions.map_err(usage)?,
            axes,
            x,
            panels,
        })
    }
}

fn axis_names(axes: &[Axis]) -> String {
    axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// At most one of a preset and a config file.
fn base_of(preset: Option<String>, config: Option<PathBuf>, dir: &Path) -> Checked<Option<Base>> {
    match (preset, config) {
        (Some(p), None) => Ok(Some(Base::Preset(p))),
        (None, Some(c)) => Ok(Some(Base::File(dir.join(c)))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err("give either `preset` or `config`, not both".into()),
    }
}

/// Axis `i` as written: `key` + `values`, or `name` + `variants`.
fn axis(a: AxisFile, i: usize, dir: &Path) -> Checked<Axis> {
    let at = format!("axis {} ({})", i + 1, a.name.as_deref().or(a.key.as_deref()).unwrap_or("unnamed"));
    let choices = match (a.key.as_deref(), a.values, a.variants) {
        (Some(key), Some(values), None) => {
            if key.trim().is_empty() || key.contains('=') {
                return Err(format!("{at}: `{key}` is not a config key"));
            }
            values
                .into_iter()
                .map(|v| Choice {
                    label: value_label(&v),
                    base: None,
                    sets: vec![format!("{key}={v}")],
                    value: Some(v),
                })
                .collect::<Vec<_>>()
        }
        (None, None, Some(variants)) => {
            if a.name.is_none() {
                return Err(format!("{at}: an axis of variants needs a `name`"));
            }
            let mut out = Vec::new();
            for v in variants {
                let base = base_of(v.preset, v.config, dir).map_err(|e| format!("{at}, variant `{}`: {e}", v.name))?;
                out.push(Choice { label: v.name, base, sets: v.set, value: None });
            }
            out
        }
        _ => return Err(format!("{at}: give `key` with `values`, or `name` with `variants`")),
    };
    if choices.is_empty() {
        return Err(format!("{at}: no values"));
    }
    for (j, c) in choices.iter().enumerate() {
        if c.label.trim().is_empty() || choices[..j].iter().any(|d| d.label == c.label) {
            return Err(format!("{at}: the label `{}` is empty or used twice", c.label));
        }
    }
    let name = a.name.or(a.key).expect("checked above");
    Ok(Axis { name, choices })
}

/// One `[[exclude]]` table: axis name = a value or a list of values.
fn exclusion(t: &toml::Table, axes: &[Axis]) -> Checked<Vec<(usize, Vec<usize>)>> {
    if t.is_empty() {
        return Err("an empty [[exclude]] table would leave out every cell".into());
    }
    let mut out = Vec::new();
    for (name, v) in t {
        let a = axes
            .iter()
            .position(|a| &a.name == name)
            .ok_or_else(|| format!("exclude: `{name}` is not an axis (axes: {})", axis_names(axes)))?;
        let axis = &axes[a];
        let index = |v: &toml::Value| {
            axis.choices.iter().position(|c| match &c.value {
                Some(value) => value == v,
                None => v.as_str() == Some(c.label.as_str()),
            })
        };
        // A list is a list of values, unless the axis has that very list as one of its values.
        let wanted: Vec<&toml::Value> = match v {
            toml::Value::Array(list) if index(v).is_none() => list.iter().collect(),
            _ => vec![v],
        };
        let mut idx = Vec::new();
        for w in wanted {
            let labels: Vec<&str> = axis.choices.iter().map(|c| c.label.as_str()).collect();
            idx.push(index(w).ok_or_else(|| {
                format!("exclude: axis `{name}` has no value {w} (its values: {})", labels.join(", "))
            })?);
        }
        out.push((a, idx));
    }
    Ok(out)
}
