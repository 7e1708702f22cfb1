//! What a run prints: a progress bar with ETA, loss, accuracy and img/s on a terminal; plain log lines
//! (one per epoch) when output is redirected; nothing but errors and warnings with --quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Display {
    quiet: bool,
    tty: bool,
}

pub struct Bar(Option<ProgressBar>);

impl Display {
    pub fn new(quiet: bool) -> Display {
        Display { quiet, tty: std::io::stderr().is_terminal() }
    }

    pub fn line(&self, s: &str) {
        if !self.quiet {
            println!("{s}");
        }
    }

    /// Something lost or forced: said on stderr even with --quiet.
    pub fn warn(&self, s: &str) {
        eprintln!("warning: {s}");
    }

    pub fn epoch_bar(&self, label: &str, total: u64, start: u64) -> Bar {
        if self.quiet || !self.tty {
            return Bar(None);
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} eta {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar.set_position(start);
        Bar(Some(bar))
    }
}

impl Bar {
    pub fn update(&self, pos: u64, loss: f64, acc: f64, img_s: f64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
            b.set_message(format!("loss {loss:.4} acc {acc:.2}% {img_s:.0} img/s"));
        }
    }
    pub fn finish_and_clear(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
