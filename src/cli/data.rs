//! `layerwise data fetch|pack`: datasets' official files, and pre-processed copies for the streaming
//! pipeline.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download a dataset's official files, verify their checksums and unpack them.
    Fetch {
        /// fashion-mnist, mnist or cifar10.
        name: String,
        /// Destination folder (default: $LAYERWISE_DATA/NAME or the user cache folder).
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Download from this base URL instead of the official one (a mirror).
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Write a pre-processed copy of an image dataset (one file: images resized to a short side, with an
    /// index) that the streaming pipeline reads with little or no decoding.
    Pack(PackArgs),
}

#[derive(Args, Debug)]
pub struct PackArgs {
    /// Image folders or .tar shards of one split (e.g. ImageNet's train/).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The packed file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Only images below a folder of this name (e.g. train).
    #[arg(long)]
    pub split: Option<String>,
    /// Label file of a flat folder or tar (LOC_val_solution.csv, or `name label` lines).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Resize images whose short side is longer to this short side.
    #[arg(long, default_value_t = 256)]
    pub short_side: usize,
    /// Store JPEG at this quality instead of raw RGB (smaller; decoded when read).
    #[arg(long)]
    pub jpeg: Option<u8>,
}

pub(super) fn pack_command(a: PackArgs, quiet: bool) -> Result<()> {
    use crate::data::stream::{default_index_cache, pack, ImageList, ListOptions, PackEncoding, PackOptions};
    let list_opts = ListOptions { split: a.split, labels: a.labels, classes: None, index_cache: default_index_cache() };
    let list = ImageList::open(&a.inputs, &list_opts)?;
    let encoding = a.jpeg.map_or(PackEncoding::Raw, |quality| PackEncoding::Jpeg { quality });
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opts = PackOptions { short_side: a.short_side, encoding, workers, progress: !quiet };
    let s = pack(&list, &a.out, &opts)?;
    println!(
        "{}: {} images, {} classes, {:.2} GB in {:.0} s",
        a.out.display(),
        s.images,
        list.classes.len(),
        s.bytes as f64 / 1e9,
        s.seconds
    );
    Ok(())
}
