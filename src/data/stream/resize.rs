//! Bilinear resampling exactly as Pillow does it (`Image.resize(size, BILINEAR)`, which torchvision's
//! transforms call on PIL images): a separable triangle filter widened by the downscaling factor
//! (antialiasing), coefficients in 22-bit fixed point, a horizontal pass rounded to bytes, then a
//! vertical pass. Matching it bit for bit keeps our crops equal to torchvision's on the same pixels.

/// Fixed-point fraction bits of the filter coefficients (Pillow's PRECISION_BITS for 8-bit images).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// A rectangle of pixels: columns `left..left + width`, rows `top..top + height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    pub fn new(left: usize, top: usize, width: usize, height: usize) -> Rect {
        Rect { left, top, width, height }
    }
}

/// One resampling: the source region `from` (treated as a whole image, as after a crop) scaled to
/// `out_width` x `out_height`, of which only `window` is produced (e.g. a centre crop of the result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeSpec {
    pub from: Rect,
    pub out_width: usize,
    pub out_height: usize,
    pub window: Rect,
}

/// Coefficients of one axis: output position i reads inputs `start[i]..start[i] + len[i]`, weighted by
/// `weights[i * stride..]`.
#[derive(Default)]
struct Axis {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
    stride: usize,
    /// Unnormalised weights of one output position.
    raw: Vec<f64>,
}

impl Axis {
    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc for outputs `first..first + count` of an
    /// `in_size` -> `out_size` resize.
    fn compute(&mut self, in_size: usize, out_size: usize, first: usize, count: usize) {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = filter_scale; // the bilinear filter's support is 1
        self.stride = support.ceil() as usize * 2 + 1;
        self.start.clear();
        self.len.clear();
        self.weights.clear();
        self.weights.resize(count * self.stride, 0);
        self.raw.resize(self.stride, 0.0);
        for (k, out) in (first..first + count).enumerate() {
            let center = (out as f64 + 0.5) * scale;
            // C casts truncate toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin).min(self.stride);
            let mut total = 0.0;
            for (x, w) in self.raw.iter_mut().enumerate().take(n) {
                let t = ((x + xmin) as f64 - center + 0.5) / filter_scale;
                *w = (1.0 - t.abs()).max(0.0);
                total += *w;
            }
            for x in 0..n {
                let v = if total != 0.0 { self.raw[x] / total } else { self.raw[x] };
                self.weights[k * self.stride + x] = (0.5 + v * (1u32 << PRECISION_BITS) as f64) as i32;
            }
            self.start.push(xmin);
            self.len.push(n);
        }
    }

    fn taps(&self, i: usize) -> &[i32] {
        &self.weights[i * self.stride..i * self.stride + self.len[i]]
    }
}

#[inline]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Reusable buffers of a resampler (one per worker thread: nothing is allocated per image once warm).
#[derive(Default)]
pub struct Resampler {
    horizontal: Axis,
    vertical: Axis,
    /// The horizontal pass's output: [rows, window.width, channels].
    rows: Vec<u8>,
    /// One output row's accumulators in the vertical pass.
    acc: Vec<i32>,
}

impl Resampler {
    /// Resample `src` ([height, width, channels] bytes, `src_width` pixels a row) as `spec` says into
    /// `out` ([window.height, window.width, channels]).
    pub fn resize(&mut self, src: &[u8], src_width: usize, channels: usize, spec: &ResizeSpec, out: &mut [u8]) {
        let (from, win, c) = (spec.from, spec.window, channels);
        assert!(win.left + win.width <= spec.out_width && win.top + win.height <= spec.out_height);
        assert_eq!(out.len(), win.width * win.height * c);
        self.horizontal.compute(from.width, spec.out_width, win.left, win.width);
        self.vertical.compute(from.height, spec.out_height, win.top, win.height);
        // Source rows the vertical pass reads (relative to `from.top`).
        let first_row = self.vertical.start.first().copied().unwrap_or(0);
        let end_row = (0..win.height).map(|i| self.vertical.start[i] + self.vertical.len[i]).max().unwrap_or(0);
        let row_len = win.width * c;
        // Horizontal pass. Pillow skips it when the width is unchanged; the identity coefficients it
        // would use give the same bytes.
        self.rows.resize((end_row - first_row) * row_len, 0);
        for (r, dst_row) in self.rows.chunks_exact_mut(row_len).enumerate() {
            let src_row = &src[((from.top + first_row + r) * src_width + from.left) * c..];
            if c == 3 {
                horizontal_rgb(&self.horizontal, src_row, dst_row);
            } else {
                horizontal_any(&self.horizontal, src_row, dst_row, c);
            }
        }
        // Vertical pass, a whole row at a time (contiguous, so the compiler vectorises it).
        for (j, dst_row) in out.chunks_exact_mut(row_len).enumerate() {
            self.acc.clear();
            self.acc.resize(row_len, 1i32 << (PRECISION_BITS - 1));
            let base = self.vertical.start[j] - first_row;
            for (y, &w) in self.vertical.taps(j).iter().enumerate() {
                let src_row = &self.rows[(base + y) * row_len..(base + y + 1) * row_len];
                for (a, &p) in self.acc.iter_mut().zip(src_row) {
                    *a += p as i32 * w;
                }
            }
            for (d, &a) in dst_row.iter_mut().zip(&self.acc) {
                *d = clip8(a);
            }
        }
    }
}

/// One row of the horizontal pass, any channel count.
fn horizontal_any(h: &Axis, src_row: &[u8], dst_row: &mut [u8], c: usize) {
    for (i, dst) in dst_row.chunks_exact_mut(c).enumerate() {
        let px = &src_row[h.start[i] * c..];
        for (ch, d) in dst.iter_mut().enumerate() {
            let mut acc = 1i32 << (PRECISION_BITS - 1);
            for (x, &w) in h.taps(i).iter().enumerate() {
                acc += px[x * c + ch] as i32 * w;
            }
            *d = clip8(acc);
        }
    }
}

/// One row of the horizontal pass over RGB: the three channels of a tap at once (the common case).
fn horizontal_rgb(h: &Axis, src_row: &[u8], dst_row: &mut [u8]) {
    for (i, dst) in dst_row.chunks_exact_mut(3).enumerate() {
        let taps = h.taps(i);
        let px = &src_row[h.start[i] * 3..(h.start[i] + taps.len()) * 3];
        let mut acc = [1i32 << (PRECISION_BITS - 1); 3];
        for (p, &w) in px.chunks_exact(3).zip(taps) {
            acc[0] += p[0] as i32 * w;
            acc[1] += p[1] as i32 * w;
            acc[2] += p[2] as i32 * w;
        }
        dst[0] = clip8(acc[0]);
        dst[1] = clip8(acc[1]);
        dst[2] = clip8(acc[2]);
    }
}
