//! The number types backends compute in: `f32` on the GPU and the CPU, `f64` on the CPU for
//! gradient checking, and how bytes travel packed into them.

use crate::engine::gemm::{finish_rows, Finish};

/// The number type a backend computes in: `f32` on the GPU and CPU, `f64` on the CPU for
/// gradient checking.
pub trait Element:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + bytemuck::Pod
    + Default
    + std::fmt::Debug
    + std::fmt::Display
    + std::iter::Sum
    + Send
    + Sync
    + 'static
{
    /// The nearest value of this type.
    fn from_f64(v: f64) -> Self;
    /// The value as f64 (exact for both types).
    fn as_f64(self) -> f64;
    /// An element holding a 32-bit word of packed bytes (see [`pack_bytes`]).
    fn from_word(word: u32) -> Self;
    /// The word an element made by [`Element::from_word`] holds.
    fn to_word(self) -> u32;
    /// `c[m, n] = op(a)·op(b)`: `a` stored `[m, k]` (`[k, m]` with `ta`), `b` stored `[k, n]`
    /// (`[n, k]` with `tb`), `c` row-major and overwritten; then `finish(row, col, values)` on
    /// the finished product, in pieces: `values` is `c[row, col..col + values.len()]` (an
    /// epilogue applied while those values are still in cache, on the thread that computed
    /// them). ndarray's product here; f32 has its own ([`crate::engine::gemm`]).
    ///
    /// ```
    /// use shadergrad::Element;
    /// let (a, b) = ([1.0f64, 2.0, 3.0, 4.0], [1.0, 1.0]); // a [2, 2], b [2, 1]
    /// let mut c = [0.0; 2];
    /// f64::matmul(&a, &b, &mut c, [2, 1, 2], false, false, &|row, _, c| c[0] += row as f64);
    /// assert_eq!(c, [3.0, 8.0]);
    /// ```
    fn matmul(a: &[Self], b: &[Self], c: &mut [Self], mnk: [usize; 3], ta: bool, tb: bool, finish: &Finish<'_, Self>) {
        ndarray_matmul(a, b, c, mnk, ta, tb);
        finish_rows(c, mnk[0], mnk[1], finish);
    }
    /// `values` (a batch of inputs, targets or weights, read as f32) in this type: converted
    /// into `out`, reusing its memory; f32 hands back `values` themselves.
    ///
    /// ```
    /// use shadergrad::Element;
    /// let mut out = Vec::new();
    /// assert_eq!(f64::from_f32s(&[0.5f32, 2.0], &mut out), [0.5, 2.0]);
    /// ```
    fn from_f32s<'a>(values: &'a [f32], out: &'a mut Vec<Self>) -> &'a [Self] {
        out.clear();
        out.extend(values.iter().map(|&v| Self::from_f64(v as f64)));
        out
    }
    /// [`pack_bytes`] for this type.
    fn pack_bytes(bytes: &[u8], out: &mut Vec<Self>) {
        out.clear();
        let mut words = bytes.chunks_exact(4);
        out.extend(
            words
                .by_ref()
                .map(|c| Self::from_word(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        );
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 4];
            word[..rest.len()].copy_from_slice(rest);
            out.push(Self::from_word(u32::from_le_bytes(word)));
        }
    }
}

/// [`Element::matmul`] by ndarray's product (`matrixmultiply`, threaded).
fn ndarray_matmul<T: Element>(a: &[T], b: &[T], c: &mut [T], [m, n, k]: [usize; 3], ta: bool, tb: bool) {
    fn view<T>(data: &[T], rows: usize, cols: usize, transposed: bool) -> ndarray::ArrayView2<'_, T> {
        if transposed {
            ndarray::ArrayView2::from_shape((cols, rows), &data[..rows * cols]).map(|v| v.reversed_axes())
        } else {
            ndarray::ArrayView2::from_shape((rows, cols), &data[..rows * cols])
        }
        .expect("a slice of exactly rows × cols")
    }
    let mut cv = ndarray::ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("a slice of exactly m × n");
    ndarray::linalg::general_mat_mul(T::one(), &view(a, m, k, ta), &view(b, k, n, tb), T::zero(), &mut cv);
}

impl Element for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    /// The word's bits: a GPU kernel reads the buffer as `array<u32>`.
    fn from_word(word: u32) -> Self {
        f32::from_bits(word)
    }
    fn to_word(self) -> u32 {
        self.to_bits()
    }
    /// The packed AVX-512 / AVX2 product on every core where the processor has one.
    fn matmul(
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        [m, n, k]: [usize; 3],
        ta: bool,
        tb: bool,
        finish: &Finish<'_, Self>,
    ) {
        use crate::engine::gemm::{available, sgemm_then, Strided};
        if !available() {
            ndarray_matmul(a, b, c, [m, n, k], ta, tb);
            return finish_rows(c, m, n, finish);
        }
        let threads = crate::engine::pool::threads();
        sgemm_then(
            [m, n, k],
            Strided::new(a, m, k, ta),
            Strided::new(b, k, n, tb),
            c,
            threads,
            finish,
        );
    }
    /// The values themselves, no copy (a batch-2048 step of digits copied 6.4 MB converting).
    fn from_f32s<'a>(values: &'a [f32], _out: &'a mut Vec<Self>) -> &'a [Self] {
        values
    }
    /// A copy: an f32 holding a word is that word's bits (a batch of pixels is on the hot path).
    fn pack_bytes(bytes: &[u8], out: &mut Vec<Self>) {
        if cfg!(target_endian = "big") {
            out.clear();
            out.extend(bytes.chunks(4).map(|c| {
                let mut word = [0u8; 4];
                word[..c.len()].copy_from_slice(c);
                f32::from_bits(u32::from_le_bytes(word))
            }));
            return;
        }
        // Not cleared first: every byte is written below, the last word's padding too, so a
        // batch's words are not zeroed before each copy (1.6 MB for 2048 digits).
        out.resize(bytes.len().div_ceil(4), 0.0);
        let all = bytemuck::cast_slice_mut::<f32, u8>(out);
        all[..bytes.len()].copy_from_slice(bytes);
        all[bytes.len()..].fill(0);
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    /// The word's value (exact: every u32 is an f64).
    fn from_word(word: u32) -> Self {
        word as f64
    }
    fn to_word(self) -> u32 {
        self as u32
    }
}

/// Packs bytes four to an element, little-endian (the last word padded with zeros), for a
/// [`Kernel::UnpackBytes`](crate::engine::kernel::Kernel::UnpackBytes) launch: a batch of 8-bit pixels travels to the device in a quarter of
/// the bytes f32 values take.
///
/// ```
/// use shadergrad::backend::{pack_bytes, Element};
/// let mut words: Vec<f32> = Vec::new();
/// pack_bytes(&[1, 2, 3, 4, 255], &mut words);
/// assert_eq!(words.iter().map(|w| w.to_word()).collect::<Vec<_>>(), [0x0403_0201, 0xff]);
/// // Packed over earlier words, the padding is zeros, not what was there.
/// pack_bytes(&[1, 2, 3, 4, 5, 6, 7, 8], &mut words);
/// pack_bytes(&[9, 10, 11, 12, 13], &mut words);
/// assert_eq!(words.iter().map(|w| w.to_word()).collect::<Vec<_>>(), [0x0c0b_0a09, 0x0d]);
/// ```
pub fn pack_bytes<E: Element>(bytes: &[u8], out: &mut Vec<E>) {
    E::pack_bytes(bytes, out)
}
