//! Fetching over HTTP from a small server on 127.0.0.1 that each test starts for itself: good files,
//! a corrupted one (checksum), a connection closed early, a 404, and no server at all (offline).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use layerwise::data::{fetch, fetch_files, load, unpack_cifar10_binary, RemoteFile};
use md5::{Digest, Md5};

use crate::{assert_data_error, err, files_in};

#[derive(Clone)]
enum Reply {
    File(Vec<u8>),
    /// Announce `claimed` bytes, send `body`, close.
    CloseEarly {
        claimed: usize,
        body: Vec<u8>,
    },
}

/// Serves `routes` ("/name" -> reply) on 127.0.0.1 for at most 30 s and 64 connections, then stops by
/// itself. Returns the base URL and the number of requests answered so far.
fn serve(routes: HashMap<String, Reply>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while Instant::now() < deadline && served < 64 {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" || header == "\n" => break,
                    Ok(_) => {}
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut stream = reader.into_inner();
            let _ = match routes.get(&path) {
                Some(Reply::File(body)) => {
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body))
                }
                Some(Reply::CloseEarly { claimed, body }) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n");
                    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body))
                }
                None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            };
        }
    });
    (base, hits)
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32 * 7 + seed as u32) as u8).collect()
}

#[test]
fn downloads_verify_and_skip_what_is_there() {
    let a = payload(300_000, 1);
    let b = payload(1234, 2);
    let routes =
        HashMap::from([("/a.bin".to_string(), Reply::File(a.clone())), ("/b.bin".to_string(), Reply::File(b.clone()))]);
    let (base, hits) = serve(routes);
    let dest = tempfile::tempdir().unwrap();
    let files = [RemoteFile::new("a.bin", &md5_hex(&a)), RemoteFile::new("b.bin", &md5_hex(&b).to_uppercase())];
    let paths = fetch_files(&format!("{base}/"), &files, dest.path()).unwrap();
    assert_eq!(paths, vec![dest.path().join("a.bin"), dest.path().join("b.bin")]);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), a);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), b);
    assert_eq!(files_in(dest.path()), ["a.bin", "b.bin"], "no temp files left");
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Already there with the right md5: no request. A damaged copy is downloaded again.
    std::fs::write(&paths[1], b"damaged").unwrap();
    fetch_files(&base, &files, dest.path()).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), b);
}

#[test]
fn checksum_mismatch_deletes_the_download() {
    let good = payload(5000, 3);
    let mut corrupted = good.clone();
    corrupted[4000] ^= 0x40;
    let (base, _) = serve(HashMap::from([("/f.gz".to_string(), Reply::File(corrupted))]));
    let dest = tempfile::tempdir().unwrap();
    let e = err(fetch_files(&base, &[RemoteFile::new("f.gz", &md5_hex(&good))], dest.path()));
    assert_data_error(&e, &["f.gz", "checksum mismatch", &md5_hex(&good), "deleted"]);
    assert!(files_in(dest.path()).is_empty(), "left behind: {:?}", files_in(dest.path()));
}

#[test]
fn connection_closed_early() {
    let body = payload(1000, 4);
    let (base, _) =
        serve(HashMap::from([("/big.bin".to_string(), Reply::CloseEarly { claimed: 100_000, body: body.clone() })]));
    let dest = tempfile::tempdir().unwrap();
    let e = err(fetch_files(&base, &[RemoteFile::new("big.bin", &md5_hex(&body))], dest.path()));
    assert_data_error(&e, &["big.bin", "100000"]);
    assert!(files_in(dest.path()).is_empty(), "left behind: {:?}", files_in(dest.path()));
}

#[test]
fn not_found_and_offline() {
    let (base, _) = serve(HashMap::new());
    let dest = tempfile::tempdir().unwrap();
    let e = err(fetch_files(&base, &[RemoteFile::new("missing.gz", "00")], dest.path()));
    assert_data_error(&e, &["HTTP 404", "missing.gz"]);

    // A port nobody listens on: what being offline looks like from here.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = err(fetch_files(&format!("http://127.0.0.1:{port}"), &[RemoteFile::new("x.gz", "00")], dest.path()));
    assert_data_error(&e, &["could not download", "offline"]);
    assert!(files_in(dest.path()).is_empty());
}

/// The named dataset's manifest with a mirror that serves a damaged file: the official md5 catches it.
#[test]
fn fetch_fashion_mnist_checks_the_official_md5() {
    let routes =
        HashMap::from([("/train-images-idx3-ubyte.gz".to_string(), Reply::File(crate::gzip(b"not the real thing")))]);
    let (base, _) = serve(routes);
    let dest = tempfile::tempdir().unwrap();
    let e = err(fetch("fashion-mnist", dest.path(), Some(&base)));
    assert_data_error(&e, &["train-images-idx3-ubyte.gz", "checksum mismatch", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"]);
    assert!(files_in(dest.path()).is_empty());

    let e = err(fetch("imagenet", dest.path(), None));
    assert!(matches!(e, layerwise::Error::Usage(_)), "{e:?}");
}

#[test]
fn unpacks_the_official_cifar_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    let rec = |label: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(label * 10, 3072));
        r
    };
    let mut batches: Vec<(&str, Vec<u8>)> =
        ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, rec(i as u8)))
            .collect();
    batches.push(("test_batch.bin", rec(9)));
    crate::cifar::official_like_archive(&archive, &batches);
    let dest = tmp.path().join("cifar10");
    unpack_cifar10_binary(&archive, &dest).unwrap();
    assert_eq!(
        files_in(&dest),
        [
            "batches.meta.txt",
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin"
        ]
    );
    let s = load("cifar10", Some(&dest)).unwrap();
    assert_eq!(s.train.labels, vec![0, 1, 2, 3, 4]);
    assert_eq!(s.test.unwrap().labels, vec![9]);

    // An archive without the batches is refused and leaves nothing behind.
    let other = tmp.path().join("other.tar.gz");
    crate::cifar::official_like_archive(&other, &[]);
    let dest2 = tmp.path().join("empty");
    let e = err(unpack_cifar10_binary(&other, &dest2));
    assert_data_error(&e, &["other.tar.gz", "data_batch_1.bin"]);
    assert!(files_in(&dest2).is_empty());
}
