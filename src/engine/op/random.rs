//! Counter-based random bits: a pure function of (stream, step, element index), computed the
//! same way here and in `shaders/common.wgsl`, so both backends draw the same dropout masks, a
//! resumed run draws the masks it would have drawn, and nothing random is uploaded per step.

/// A bijective mix of 32 bits ("lowbias32", after Chris Wellons' hash-prospector).
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// 32 random bits for element `index` of draw `step` of `stream`. Because `mix32` is a
/// bijection, distinct indices of one draw never share their bits.
///
/// ```
/// use shadergrad::op::random::counter_hash;
/// assert_eq!(counter_hash(1, 2, 3), counter_hash(1, 2, 3));
/// assert_ne!(counter_hash(1, 2, 3), counter_hash(1, 2, 4));
/// assert_ne!(counter_hash(1, 2, 3), counter_hash(1, 3, 3));
/// ```
pub fn counter_hash(stream: u32, step: u32, index: u32) -> u32 {
    mix32(index ^ mix32(step ^ mix32(stream)))
}

/// A uniform value in `0..n` (n > 0) from 32 random bits, by multiply-shift.
///
/// ```
/// use shadergrad::op::random::below;
/// assert_eq!(below(0, 5), 0);
/// assert_eq!(below(u32::MAX, 5), 4);
/// ```
pub fn below(bits: u32, n: u32) -> u32 {
    ((bits as u64 * n as u64) >> 32) as u32
}

/// The bits below which dropout drops an element: `p · 2³²`, so the chance of a drop is `p` to
/// within 2⁻³² (`p` in `[0, 1)`).
///
/// ```
/// use shadergrad::op::random::drop_threshold;
/// assert_eq!(drop_threshold(0.0), 0);
/// assert_eq!(drop_threshold(0.5), 1 << 31);
/// ```
pub fn drop_threshold(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// Whether dropout keeps element `index` of draw `step` of `stream` (dropping below `threshold`).
///
/// ```
/// use shadergrad::op::random::{drop_threshold, keeps};
/// let kept = (0..10_000).filter(|&i| keeps(1, 1, i, drop_threshold(0.3))).count();
/// assert!((6_800..7_200).contains(&kept), "{kept}");
/// ```
pub fn keeps(stream: u32, step: u32, index: u32, threshold: u32) -> bool {
    counter_hash(stream, step, index) >= threshold
}
