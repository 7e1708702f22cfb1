//! The pipeline: the same batches whatever the worker count, exact resume, bounded memory, in-order
//! delivery, errors that name the file, and batches equal to transforming each image by hand.

use layerwise::data::stream::{
    EpochPlan, ImageList, ListOptions, Pipeline, PipelineOptions, Resampler, RgbView, Transform,
};

use crate::{collect, pattern, pipeline, rgb_of, save, small_eval, small_train, tiny_tree};

fn tiny_list(root: &std::path::Path) -> ImageList {
    tiny_tree(root);
    ImageList::open(&[root.to_path_buf()], &ListOptions::default()).unwrap()
}

#[test]
fn batches_do_not_depend_on_the_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tiny_list(tmp.path());
    let plan = EpochPlan::shuffled(list.len(), 99);
    let one = collect(&pipeline(list.clone(), 2, 1, small_train()), &plan);
    assert_eq!(one.len(), 4, "9 images in batches of 2, the last partial one dropped");
    for workers in [2, 3, 5] {
        for _ in 0..3 {
            assert_eq!(collect(&pipeline(list.clone(), 2, workers, small_train()), &plan), one, "{workers} workers");
        }
    }
    // Another epoch key shuffles and crops differently.
    assert_ne!(collect(&pipeline(list.clone(), 2, 2, small_train()), &EpochPlan::shuffled(list.len(), 100)), one);
}

#[test]
fn resuming_mid_epoch_gives_the_remaining_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tiny_list(tmp.path());
    let p = pipeline(list.clone(), 2, 2, small_train());
    let plan = EpochPlan::shuffled(list.len(), 5);
    let all = collect(&p, &plan);
    for b in 0..=all.len() {
        assert_eq!(collect(&p, &plan.clone().from_batch(b)), all[b..].to_vec(), "from batch {b}");
    }
}

#[test]
fn every_row_is_its_image_transformed() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tiny_list(tmp.path());
    let t = small_train();
    let plan = EpochPlan::shuffled(list.len(), 3);
    let batches = collect(&pipeline(list.clone(), 4, 2, t), &plan);
    let mut r = Resampler::default();
    for (b, (images, labels, ids)) in batches.iter().enumerate() {
        assert_eq!(ids.as_slice(), &plan.order[b * 4..(b + 1) * 4]);
        for (row, &id) in ids.iter().enumerate() {
            let (w, h, rgb) = rgb_of(&list.name(id as usize));
            let mut want = vec![0u8; 16 * 16 * 3];
            t.apply(RgbView { pixels: &rgb, width: w, height: h }, 3, id as u64, &mut r, &mut want);
            assert_eq!(&images[row * 768..(row + 1) * 768], &want[..], "batch {b} row {row}");
            assert_eq!(labels[row], list.entries[id as usize].label);
        }
    }
}

#[test]
fn evaluation_covers_every_image_in_order_with_a_short_last_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tiny_list(tmp.path());
    let batches = collect(&pipeline(list.clone(), 4, 3, small_eval()), &EpochPlan::in_order(list.len(), 0));
    let lens: Vec<usize> = batches.iter().map(|b| b.2.len()).collect();
    assert_eq!(lens, [4, 4, 1]);
    let ids: Vec<u32> = batches.iter().flat_map(|b| b.2.clone()).collect();
    assert_eq!(ids, (0..9).collect::<Vec<u32>>());
    assert_eq!(batches[2].0.len(), 16 * 16 * 3);
    // Sorted by class: a (4 images), b (3), c (2).
    let labels: Vec<u32> = batches.iter().flat_map(|b| b.1.clone()).collect();
    assert_eq!(labels, [0, 0, 0, 0, 1, 1, 1, 2, 2]);
}

#[test]
fn memory_stays_bounded_on_a_dataset_larger_than_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..60 {
        save(&tmp.path().join(format!("c{}/{i}.png", i % 3)), &pattern(i as u8, 12, 10));
    }
    let list = ImageList::open(&[tmp.path().to_path_buf()], &ListOptions::default()).unwrap();
    let opts = PipelineOptions { batch: 2, workers: 3, prefetch: 4, transform: small_train() };
    let p = Pipeline::new(list, opts).unwrap();
    let mut batches = p.epoch(&EpochPlan::shuffled(60, 1)).unwrap();
    let mut seen = 0;
    for b in batches.by_ref() {
        let b = b.unwrap();
        assert_eq!(b.index(), seen, "in order");
        seen += 1;
        // Slow consumer: the workers fill the queue and must wait.
        std::thread::sleep(std::time::Duration::from_millis(2));
        drop(b);
    }
    assert_eq!(seen, 30);
    let stats = batches.stats();
    assert_eq!(stats.peak_held, 1);
    assert!(stats.allocated <= 4 + 1, "{} batch buffers for a queue of 4 and 1 held", stats.allocated);
    // Holding two at a time allows one more buffer, no more.
    let mut batches = p.epoch(&EpochPlan::shuffled(60, 2)).unwrap();
    let mut held = std::collections::VecDeque::new();
    for b in batches.by_ref() {
        held.push_back(b.unwrap());
        if held.len() > 2 {
            held.pop_front();
        }
    }
    drop(held);
    let stats = batches.stats();
    assert_eq!(stats.peak_held, 3);
    assert!(stats.allocated <= 4 + 3, "{} buffers", stats.allocated);
}

#[test]
fn a_bad_file_stops_the_epoch_with_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(tmp.path());
    std::fs::write(tmp.path().join("b/broken.jpg"), b"\xff\xd8\xff\xe0 not really a JPEG").unwrap();
    let list = ImageList::open(&[tmp.path().to_path_buf()], &ListOptions::default()).unwrap();
    let mut errors = Vec::new();
    let mut good = 0;
    for b in pipeline(list.clone(), 2, 2, small_eval()).epoch(&EpochPlan::in_order(list.len(), 0)).unwrap() {
        match b {
            Ok(_) => good += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    assert_eq!(errors.len(), 1, "the stream ends at the first error");
    assert!(errors[0].contains("broken.jpg") && errors[0].contains("cannot decode"), "{}", errors[0]);
    // a: 4 images, then b/0, b/1, b/2, b/broken: batch 3 holds b/2 and b/broken.
    assert_eq!(good, 3);
}

#[test]
fn bad_options_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tiny_list(tmp.path());
    let bad = |batch, workers, prefetch, transform| {
        Pipeline::new(list.clone(), PipelineOptions { batch, workers, prefetch, transform }).is_err()
    };
    assert!(bad(0, 1, 1, small_eval()));
    assert!(bad(1, 0, 1, small_eval()));
    assert!(bad(1, 1, 0, small_eval()));
    assert!(bad(1, 1, 1, Transform::ResizeCenterCrop { resize: 16, size: 20 }));
    let p = pipeline(list, 2, 1, small_eval());
    let plan = EpochPlan { order: vec![0, 1, 99].into(), key: 0, first_batch: 0, drop_last: false };
    assert!(p.epoch(&plan).is_err());
}
