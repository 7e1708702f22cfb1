//! Download progress: a bar on a terminal, a few plain lines otherwise (logs, CI).

use std::io::IsTerminal;

use indicatif::HumanBytes;

/// A progress bar on a terminal; a few plain lines otherwise (logs, CI).
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: Option<u64>,
    name: String,
    next_line: u64,
}

impl Progress {
    pub(crate) fn start(name: &str, url: &str, total: Option<u64>) -> Self {
        let size = total.map(|t| format!(" ({})", HumanBytes(t))).unwrap_or_default();
        eprintln!("downloading {url}{size}");
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.to_string());
            bar
        });
        Progress { bar, total, name: name.to_string(), next_line: 0 }
    }

    pub(crate) fn advance(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        // Plain lines every quarter (or every 32 MiB when the size is unknown).
        let step = self.total.map_or(32 << 20, |t| (t / 4).max(1));
        if done >= self.next_line + step {
            self.next_line = done - done % step;
            match self.total {
                Some(t) => eprintln!("  {}: {}% of {}", self.name, done * 100 / t.max(1), HumanBytes(t)),
                None => eprintln!("  {}: {}", self.name, HumanBytes(done)),
            }
        }
    }

    pub(crate) fn finish(&self, name: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("{name} (md5 ok)")),
            None => eprintln!("  {name}: done, md5 ok"),
        }
    }

    pub(crate) fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
