//! Augmentation of image batches as they are gathered: each example translated by a few pixels,
//! the offsets drawn from counters (run stream, step, example position), so both backends see
//! the same batches and a resumed run draws the offsets it would have drawn. Done on the host:
//! a 64-image batch of 28×28 is 50 KB of byte copies, against a step of milliseconds (see the
//! note in BENCHMARKS.md), and it adds no launch to the step.

use super::Batch;
use crate::engine::op::random::{below, counter_hash};

impl Batch {
    /// Translates every `[rows, cols]` grayscale image of the batch by offsets in
    /// `−pixels..=pixels` along each axis, drawn for draw `step` of `stream`; pixels moved in
    /// from outside the image are 0.
    pub(crate) fn shift_images(&mut self, [rows, cols]: [usize; 2], pixels: u32, stream: u32, step: u32) {
        let size = rows * cols;
        if pixels == 0 || size == 0 {
            return;
        }
        let offset = |example: usize, axis: u32| {
            let bits = counter_hash(stream, step, (example as u32).wrapping_mul(2).wrapping_add(axis));
            below(bits, 2 * pixels + 1) as isize - pixels as isize
        };
        let mut scratch = Vec::new();
        for (e, image) in self.bytes.chunks_exact_mut(size).enumerate() {
            shift(image, &mut scratch, rows, cols, offset(e, 0), offset(e, 1));
        }
        let mut scratch = Vec::new();
        for (e, image) in self.floats.chunks_exact_mut(size).enumerate() {
            shift(image, &mut scratch, rows, cols, offset(e, 0), offset(e, 1));
        }
    }
}

/// `image` moved down by `dy` and right by `dx` (negative: up, left), zeros moved in.
fn shift<T: Copy + Default>(image: &mut [T], scratch: &mut Vec<T>, rows: usize, cols: usize, dy: isize, dx: isize) {
    if dy == 0 && dx == 0 {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(image);
    image.fill(T::default());
    for r in 0..rows {
        let from_r = r as isize - dy;
        if from_r < 0 || from_r >= rows as isize {
            continue;
        }
        // The columns whose source column c − dx lies inside the image.
        let lo = dx.max(0) as usize;
        let hi = (cols as isize + dx.min(0)).max(0) as usize;
        if lo >= hi {
            continue;
        }
        let src = from_r as usize * cols;
        let from = (lo as isize - dx) as usize;
        image[r * cols + lo..r * cols + hi].copy_from_slice(&scratch[src + from..src + from + (hi - lo)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_moves_pixels_and_fills_zeros() {
        // 3×3 image 1..9 moved down 1 and left 1.
        let mut image: Vec<u8> = (1..=9).collect();
        shift(&mut image, &mut Vec::new(), 3, 3, 1, -1);
        assert_eq!(image, [0, 0, 0, 2, 3, 0, 5, 6, 0]);
        let mut image: Vec<u8> = (1..=9).collect();
        shift(&mut image, &mut Vec::new(), 3, 3, -2, 2);
        assert_eq!(image, [0, 0, 7, 0, 0, 0, 0, 0, 0]);
        let mut image: Vec<u8> = (1..=9).collect();
        shift(&mut image, &mut Vec::new(), 3, 3, 0, 5);
        assert_eq!(image, [0; 9]);
    }

    #[test]
    fn offsets_cover_the_range_evenly_and_repeat_per_step() {
        let mut counts = [0usize; 5];
        for e in 0..10_000 {
            let bits = counter_hash(9, 4, e * 2);
            counts[below(bits, 5) as usize] += 1;
        }
        // Each of the 5 offsets is drawn 2,000 ± 5σ (σ = 40) times.
        assert!(counts.iter().all(|&c| (1800..=2200).contains(&c)), "{counts:?}");
        let image: Vec<u8> = (0..=255).cycle().take(2 * 784).collect();
        let shifted = |step| {
            let mut b = Batch {
                bytes: image.clone(),
                ..Batch::default()
            };
            b.shift_images([28, 28], 2, 1, step);
            b.bytes
        };
        assert_eq!(shifted(3), shifted(3));
        assert_ne!(shifted(3), shifted(4));
    }
}
