//! `layerwise bench data` and `layerwise data pack` on a tiny folder.

use std::process::Command;

use layerwise::data::stream::{ImageList, ListOptions};

use crate::tiny_tree;

fn layerwise(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_layerwise")).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn bench_data_measures_every_transform_and_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(&tmp.path().join("train"));
    let json = tmp.path().join("bench.json");
    let root = tmp.path().to_str().unwrap();
    let (ok, text) = layerwise(&[
        "bench",
        "data",
        root,
        "--split",
        "train",
        "--images",
        "9",
        "--workers",
        "1,2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    for row in ["| decode | 1 |", "| decode+train | 2 |", "| decode+eval | 1 |"] {
        assert!(text.contains(row), "{row} missing in\n{text}");
    }
    let report: layerwise::bench::DataBenchReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((report.images, report.rows.len()), (9, 6));
    assert!(report.rows.iter().all(|r| r.img_per_s > 0.0));
    let (ok, text) = layerwise(&["bench", "data", tmp.path().join("nothing").to_str().unwrap()]);
    assert!(!ok && text.contains("nothing"), "{text}");
}

#[test]
fn data_pack_writes_a_copy_the_pipeline_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let n = tiny_tree(&tmp.path().join("train"));
    let out = tmp.path().join("train.pack");
    let (ok, text) = layerwise(&[
        "data",
        "pack",
        tmp.path().join("train").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--short-side",
        "16",
        "--jpeg",
        "90",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("{n} images, 3 classes")), "{text}");
    let list = ImageList::open(&[out], &ListOptions::default()).unwrap();
    assert_eq!(list.len(), n);
}
