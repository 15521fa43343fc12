// Prepended to every shader file by src/backend/wgpu/shaders.rs.
//
// Every kernel takes its sizes and constants in one uniform (Rust: backend::Params):
//   dims: counts, their meaning per kernel (n; rows, cols; m, n, k)
//   s0, s1: eight f32 constants (op constant, learning rate, betas, ...)
struct Params {
    dims: vec4<u32>,
    s0: vec4<f32>,
    s1: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;

// The linear index of an invocation in a 1-D job laid out on a 2-D grid of workgroups of `size`
// invocations: grids fold past 65,535 workgroups per dimension into y.
fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * size + lid;
}

// The linear index of a workgroup on a folded 2-D grid (one workgroup per row).
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// A quiet NaN (WGSL has no NaN literal).
fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// x^p with the sign of a real power for integer p (WGSL's pow is undefined for x < 0):
// a negative base to a fractional power is NaN, to an odd integer power negative.
fn real_pow(x: vec4<f32>, p: vec4<f32>) -> vec4<f32> {
    let r = pow(abs(x), p);
    let negative = x < vec4<f32>(0.0);
    let fractional = fract(p) != vec4<f32>(0.0);
    let odd = fract(p * 0.5) != vec4<f32>(0.0);
    var out = select(r, select(select(r, -r, odd), vec4<f32>(nan()), fractional), negative);
    return select(out, vec4<f32>(1.0), p == vec4<f32>(0.0));
}

// tanh through exp of a non-positive argument, finite for any x (a naive form overflows).
fn stable_tanh(x: vec4<f32>) -> vec4<f32> {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// ln(1 + u) for u in [0, 1], accurate where u is tiny: 2·atanh(s) with s = u/(2 + u) ≤ 1/3,
// as 2s·Σ s²ᵏ/(2k+1) for k < 8 (the rest is below 4e-9 of it). A polynomial, because the usual
// cancellation trick, u·ln(1 + u)/((1 + u) − 1), is simplified away by drivers that reassociate
// floats (lavapipe's NIR does, and gave 0 for u = 1e-13).
fn log1p(u: vec4<f32>) -> vec4<f32> {
    let s = u / (2.0 + u);
    let z = s * s;
    var sum = vec4<f32>(1.0 / 15.0);
    sum = sum * z + 1.0 / 13.0;
    sum = sum * z + 1.0 / 11.0;
    sum = sum * z + 1.0 / 9.0;
    sum = sum * z + 1.0 / 7.0;
    sum = sum * z + 1.0 / 5.0;
    sum = sum * z + 1.0 / 3.0;
    sum = sum * z + 1.0;
    return 2.0 * s * sum;
}

fn sigmoid(x: vec4<f32>) -> vec4<f32> {
    return 1.0 / (1.0 + exp(-x));
}

// Counter-based random bits (Rust: op::counter_hash): a bijective integer mix ("lowbias32",
// C. Wellons) applied to the element index after the stream and the step, so every
// (stream, step, index) gets its own bits, on any backend, with nothing uploaded but the counter.
fn mix32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn counter_hash(stream: u32, step: u32, index: u32) -> u32 {
    return mix32(index ^ mix32(step ^ mix32(stream)));
}
