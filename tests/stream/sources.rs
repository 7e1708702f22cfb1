//! Where images come from: folders, tar shards (several, nested), flat folders and tars with label
//! files, ImageNet's layouts, and the Imagenette archive.

use std::path::{Path, PathBuf};

use layerwise::data::stream::{imagenet_splits, EpochPlan, ImageList, ListOptions, Location};

use crate::{collect, pattern, pipeline, save, shared_data, small_eval, small_train, tiny_tree};

/// Write a tar of every file under `dir`, members named `prefix` + their path relative to `dir`.
fn tar_of(dir: &Path, prefix: &str, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.append_dir_all(prefix.trim_end_matches('/'), dir).unwrap();
    b.finish().unwrap();
}

fn open(inputs: &[PathBuf], split: Option<&str>) -> ImageList {
    ImageList::open(inputs, &ListOptions { split: split.map(String::from), ..Default::default() }).unwrap()
}

#[test]
fn folder_and_tar_list_the_same_images_and_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("data/train");
    let n = tiny_tree(&tree);
    let from_dir = open(&[tmp.path().join("data")], Some("train"));
    assert_eq!((from_dir.len(), from_dir.classes.clone()), (n, vec!["a".to_string(), "b".into(), "c".into()]));
    let tar = tmp.path().join("data.tar");
    tar_of(&tmp.path().join("data"), "imagenet/", &tar);
    let from_tar = open(std::slice::from_ref(&tar), Some("train"));
    assert_eq!(from_tar.classes, from_dir.classes);
    assert!(matches!(from_tar.entries[0].location, Location::Member { .. }));
    assert!(from_tar.name(0).ends_with("imagenet/train/a/0.jpg"), "{}", from_tar.name(0).display());
    let labels = |l: &ImageList| l.entries.iter().map(|e| e.label).collect::<Vec<_>>();
    assert_eq!(labels(&from_tar), labels(&from_dir));
    let plan = EpochPlan::shuffled(n, 11);
    let a = collect(&pipeline(from_dir, 3, 2, small_train()), &plan);
    assert_eq!(collect(&pipeline(from_tar, 3, 2, small_train()), &plan), a);
}

#[test]
fn several_shards_and_nested_class_tars() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let n = tiny_tree(&tree);
    // ImageNet's ILSVRC2012_img_train.tar: one tar per class (flat files inside), in one outer tar.
    let inner = tmp.path().join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    for class in ["a", "b", "c"] {
        tar_of(&tree.join(class), "", &inner.join(format!("{class}.tar")));
    }
    let outer = tmp.path().join("ILSVRC2012_img_train.tar");
    tar_of(&inner, "", &outer);
    let nested = open(std::slice::from_ref(&outer), None);
    let plain = open(std::slice::from_ref(&tree), None);
    assert_eq!((nested.len(), &nested.classes), (n, &plain.classes));
    assert!(nested.name(0).ends_with("a.tar/0.jpg"), "{}", nested.name(0).display());
    // The same classes split over two shards.
    let (s1, s2) = (tmp.path().join("s1"), tmp.path().join("s2"));
    for (class, shard) in [("a", &s1), ("b", &s2), ("c", &s2)] {
        copy_dir(&tree.join(class), &shard.join(class));
    }
    let shards = [tmp.path().join("s1.tar"), tmp.path().join("s2.tar")];
    tar_of(&s1, "", &shards[0]);
    tar_of(&s2, "", &shards[1]);
    let sharded = open(&shards, None);
    assert_eq!(sharded.containers.len(), 2);
    let plan = EpochPlan::in_order(n, 0);
    let want = collect(&pipeline(plain, 4, 2, small_eval()), &plan);
    assert_eq!(collect(&pipeline(nested, 4, 2, small_eval()), &plan), want);
    assert_eq!(collect(&pipeline(sharded, 4, 1, small_eval()), &plan), want);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// ImageNet's layout: train/<wnid>/, a flat val/ and LOC_val_solution.csv.
fn imagenet_like(root: &Path) {
    for (k, wnid) in ["n02", "n01", "n03"].iter().enumerate() {
        for i in 0..2 {
            save(&root.join(format!("train/{wnid}/{wnid}_{i}.JPEG")), &pattern((k * 2 + i) as u8, 30, 20));
        }
    }
    let mut csv = String::from("ImageId,PredictionString\n");
    for (i, wnid) in ["n03", "n01", "n01", "n02"].iter().enumerate() {
        save(&root.join(format!("val/ILSVRC2012_val_{:08}.JPEG", i + 1)), &pattern(50 + i as u8, 20, 30));
        csv += &format!("ILSVRC2012_val_{:08},{wnid} 1 2 10 12 {wnid} 3 4 5 6\n", i + 1);
    }
    std::fs::write(root.join("LOC_val_solution.csv"), csv).unwrap();
}

#[test]
fn flat_validation_folder_with_loc_val_solution() {
    let tmp = tempfile::tempdir().unwrap();
    imagenet_like(tmp.path());
    let (train, val) = imagenet_splits(tmp.path(), None).unwrap();
    assert_eq!(train.classes, ["n01", "n02", "n03"]);
    assert_eq!(train.entries.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 0, 1, 1, 2, 2]);
    let val = val.unwrap();
    assert_eq!(val.classes, train.classes);
    // Sorted by (label, name): val 2 and 3 are n01, val 4 n02, val 1 n03.
    let names: Vec<String> = (0..4).map(|i| val.name(i).file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names[0], "ILSVRC2012_val_00000002.JPEG");
    assert_eq!(val.entries.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 0, 1, 2]);
    assert_eq!(names[3], "ILSVRC2012_val_00000001.JPEG");
    // The same as one flat tar (ILSVRC2012_img_val.tar), with a `name index` text label file.
    let tar = tmp.path().join("val.tar");
    tar_of(&tmp.path().join("val"), "", &tar);
    let txt = tmp.path().join("val.txt");
    std::fs::write(&txt, "ILSVRC2012_val_00000001.JPEG 2\nILSVRC2012_val_00000002.JPEG 0\nILSVRC2012_val_00000003.JPEG 0\nILSVRC2012_val_00000004.JPEG 1\n").unwrap();
    let opts = ListOptions { labels: Some(txt), classes: Some(train.classes.clone()), ..Default::default() };
    let from_tar = ImageList::open(&[tar], &opts).unwrap();
    assert_eq!(from_tar.entries.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 0, 1, 2]);
    let plan = EpochPlan::in_order(4, 0);
    assert_eq!(
        collect(&pipeline(from_tar, 3, 2, small_eval()), &plan),
        collect(&pipeline(val, 3, 2, small_eval()), &plan)
    );
}

#[test]
fn listing_errors_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    imagenet_like(tmp.path());
    let val = [tmp.path().join("val")];
    let msg = |r: layerwise::Result<ImageList>| r.expect_err("an error").to_string();
    let e = msg(ImageList::open(&val, &ListOptions::default()));
    assert!(e.contains("not in a class folder") && e.contains("LOC_val_solution.csv"), "{e}");
    let devkit = tmp.path().join("ILSVRC2012_validation_ground_truth.txt");
    std::fs::write(&devkit, "490\n361\n171\n822\n").unwrap();
    let e = msg(ImageList::open(&val, &ListOptions { labels: Some(devkit), ..Default::default() }));
    assert!(e.contains("devkit") && e.contains("meta.mat"), "{e}");
    let partial = tmp.path().join("partial.csv");
    std::fs::write(&partial, "ImageId,PredictionString\nILSVRC2012_val_00000001,n01 1 2 3 4\n").unwrap();
    let e = msg(ImageList::open(&val, &ListOptions { labels: Some(partial), ..Default::default() }));
    assert!(e.contains("no label for ILSVRC2012_val_00000002.JPEG"), "{e}");
    let gz = tmp.path().join("x.tar.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    assert!(msg(ImageList::open(&[gz], &ListOptions::default())).contains("decompress it once"));
    let e = msg(ImageList::open(
        &[tmp.path().join("train")],
        &ListOptions { split: Some("nope".into()), ..Default::default() },
    ));
    assert!(e.contains("no .jpg/.jpeg/.png images under a 'nope' folder"), "{e}");
    let e = msg(ImageList::open(&[tmp.path().join("missing")], &ListOptions::default()));
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn imagenette_archive_streams() {
    let Some(shared) = shared_data("imagenette_archive_streams") else { return };
    let tar = shared.join("imagenette/train.tar");
    let t0 = std::time::Instant::now();
    let list = open(std::slice::from_ref(&tar), Some("train"));
    eprintln!("indexed {} members in {:.2} s", list.len(), t0.elapsed().as_secs_f64());
    // The archive has no validation split: hold one out of train.
    let (train, val) = imagenet_splits(&tar, None).unwrap();
    assert_eq!((train.len(), val), (9469, None));
    assert_eq!(list.len(), 9469);
    assert_eq!(list.classes.len(), 10);
    assert_eq!(list.classes[0], "n01440764");
    let n03888257 = list.entries.iter().filter(|e| e.label == 9).count();
    assert!(n03888257 > 800, "{n03888257} parachutes");
    // A held-out subset of every 37th image through both transforms at full size.
    let idx: Vec<usize> = (0..list.len()).step_by(37).collect();
    let sub = list.subset(&idx);
    let train = collect(
        &pipeline(sub.clone(), 32, 2, layerwise::data::stream::Transform::imagenet_train()),
        &EpochPlan::shuffled(sub.len(), 1),
    );
    assert_eq!(train.len(), sub.len() / 32);
    assert!(train.iter().all(|b| b.0.len() == 32 * 224 * 224 * 3));
    let eval = collect(
        &pipeline(sub.clone(), 64, 2, layerwise::data::stream::Transform::imagenet_eval()),
        &EpochPlan::in_order(sub.len(), 0),
    );
    assert_eq!(eval.iter().map(|b| b.2.len()).sum::<usize>(), sub.len());
}

#[test]
fn a_tar_index_is_kept_between_runs_and_renewed_when_the_tar_changes() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(&tmp.path().join("tree/train"));
    let tar = tmp.path().join("shard.tar");
    tar_of(&tmp.path().join("tree"), "", &tar);
    let cache = tmp.path().join("index-cache");
    let opts = ListOptions { split: Some("train".into()), index_cache: Some(cache.clone()), ..Default::default() };
    let first = ImageList::open(std::slice::from_ref(&tar), &opts).unwrap();
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one index file");
    assert_eq!(ImageList::open(std::slice::from_ref(&tar), &opts).unwrap(), first);
    assert_eq!(open(std::slice::from_ref(&tar), Some("train")), first, "the same as indexing afresh");
    // A damaged index is ignored (and rewritten), never trusted.
    std::fs::write(&files[0], b"LWTARIX1 garbage").unwrap();
    assert_eq!(ImageList::open(std::slice::from_ref(&tar), &opts).unwrap(), first);
    // The shard rewritten with one more image: a new index.
    save(&tmp.path().join("tree/train/a/zz.png"), &pattern(9, 8, 8));
    tar_of(&tmp.path().join("tree"), "", &tar);
    assert_eq!(ImageList::open(std::slice::from_ref(&tar), &opts).unwrap().len(), first.len() + 1);
}
