//! Reading one image's bytes: a worker keeps its own open handle on every container (tar shard, packed
//! copy) it has read from and reuses one buffer, so reading allocates nothing once warm.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{ImageList, Location, Pixels};
use crate::error::IoContext;
use crate::{Error, Result};

/// Holds at most this many container handles (a dataset of many shards must not exhaust file handles).
const MAX_OPEN: usize = 64;

#[derive(Default)]
pub struct Reader {
    open: HashMap<u32, File>,
    /// The last image's bytes.
    pub bytes: Vec<u8>,
}

impl Reader {
    /// Read entry `i` of `list` into `self.bytes`; returns how they hold the image.
    pub fn read(&mut self, list: &ImageList, i: usize) -> Result<Pixels> {
        self.bytes.clear();
        match &list.entries[i].location {
            Location::File(path) => {
                File::open(path).and_then(|mut f| f.read_to_end(&mut self.bytes)).at(path)?;
                Ok(Pixels::Encoded)
            }
            Location::Member { container, offset, len, pixels, .. } => {
                let path = &list.containers[*container as usize];
                if !self.open.contains_key(container) && self.open.len() >= MAX_OPEN {
                    self.open.clear();
                }
                let file = match self.open.entry(*container) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(File::open(path).at(path)?),
                };
                self.bytes.resize(*len as usize, 0);
                let read = file.seek(SeekFrom::Start(*offset)).and_then(|_| file.read_exact(&mut self.bytes));
                read.map_err(|e| Error::data(list.name(i), format!("cannot read this member (file truncated?): {e}")))?;
                Ok(*pixels)
            }
        }
    }
}
