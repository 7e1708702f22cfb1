//! Headless Chromium for the tests that screenshot a report page: found on PATH (or LAYERWISE_CHROMIUM),
//! installed with apt-get when missing on a root Debian shell, otherwise a failure that says how to get it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CHROMIUM_NAMES: [&str; 5] = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"];

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LAYERWISE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    CHROMIUM_NAMES.iter().find_map(|n| find_on_path(n))
}

fn is_ubuntu() -> bool {
    std::fs::read_to_string("/etc/os-release")
        .map(|s| s.lines().any(|l| l == "ID=ubuntu" || (l.starts_with("ID_LIKE=") && l.contains("ubuntu"))))
        .unwrap_or(false)
}

fn how_to_get_chromium() -> String {
    if is_ubuntu() {
        "the report screenshot test needs Chromium: on Ubuntu the apt package is only a snap wrapper, so run \
         `sudo snap install chromium` (or install Google Chrome), or point LAYERWISE_CHROMIUM at a Chromium/Chrome binary"
            .into()
    } else {
        "the report screenshot test needs Chromium: `sudo apt-get install chromium chromium-driver` (Debian), \
         or point LAYERWISE_CHROMIUM at a Chromium/Chrome binary (scripts/dev.sh installs it)"
            .into()
    }
}

/// Chromium, installed with apt-get when missing and this is a root shell on Debian; otherwise a failure
/// that says how to get it.
fn chromium() -> PathBuf {
    if let Some(p) = find_chromium() {
        return p;
    }
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if root && !is_ubuntu() && find_on_path("apt-get").is_some() {
        eprintln!("installing chromium with apt-get (root, Debian) for the report screenshot test...");
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=300", "-qq"])
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let ok = apt(&["update"]) && apt(&["install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]);
        if let (true, Some(p)) = (ok, find_chromium()) {
            return p;
        }
        panic!("apt-get could not install chromium; {}", how_to_get_chromium());
    }
    panic!("{}", how_to_get_chromium());
}

/// Screenshot `page` (an HTML file) at `size` into `shot`, failing the test if Chromium does not produce it
/// within 180 s.
pub fn screenshot(page: &Path, shot: &Path, size: (u32, u32)) {
    let page = std::fs::canonicalize(page).unwrap();
    let profile = shot.with_file_name("chromium-profile");
    let browser = chromium();
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}; {}", browser.display(), how_to_get_chromium()));
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} took over 180 s to take a screenshot", browser.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        shot.is_file(),
        "no screenshot from {} ({}): {}",
        browser.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
