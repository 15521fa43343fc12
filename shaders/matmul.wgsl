// Tiled matrix product with transpose flags and a fused epilogue.
//   c[m, n] = act(op(a)·op(b) + bias)
//   op(a) is a [m, k] matrix stored as is, or (TA) stored [k, m] and read transposed;
//   op(b) is a [k, n] matrix stored as is, or (TB) stored [n, k] and read transposed.
// So the seeds' dW = dD·Xᵀ and dX = Wᵀ·dD run without materialising a transpose.
// m = p.dims.x, n = p.dims.y, k = p.dims.z; any sizes (tiles are masked at the edges).
//
// Each workgroup computes a BM×BN tile of c; each of its 16×16 invocations a TM×TN block held
// in registers. Per step of BK along k the workgroup stages a BM×BK slice of op(a) and a BK×BN
// slice of op(b) in workgroup memory, loading along the stored matrix's rows (coalesced).

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

override TA: bool = false;
override TB: bool = false;
override ACT: u32 = 0u; // matmul_bias only: 0 none, 1 relu (Activation in src/op.rs)

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const THREADS: u32 = 256u; // (BM / TM) × (BN / TN)

var<workgroup> a_tile: array<f32, 1024>; // [BK][BM]
var<workgroup> b_tile: array<f32, 1024>; // [BK][BN]

// Element (i, kk) of op(a), 0 outside the matrix.
fn a_at(i: u32, kk: u32, m: u32, k: u32) -> f32 {
    if (i >= m || kk >= k) {
        return 0.0;
    }
    if (TA) {
        return a[kk * m + i];
    }
    return a[i * k + kk];
}

// Element (kk, j) of op(b), 0 outside the matrix.
fn b_at(kk: u32, j: u32, k: u32, n: u32) -> f32 {
    if (kk >= k || j >= n) {
        return 0.0;
    }
    if (TB) {
        return b[j * k + kk];
    }
    return b[kk * n + j];
}

// The workgroup's tile of op(a)·op(b): this invocation's TM×TN block, row-major.
fn tile_product(wid: vec3<u32>, lid: vec3<u32>) -> array<f32, 16> {
    let m = p.dims.x;
    let n = p.dims.y;
    let k = p.dims.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let t = lid.y * 16u + lid.x;

    var acc: array<f32, 16>; // [TM][TN]
    for (var k0 = 0u; k0 < k; k0 += BK) {
        for (var l = 0u; l < (BM * BK) / THREADS; l++) {
            let e = t + l * THREADS;
            // Walk the stored matrix along its rows: k for a as is, m for a transposed.
            var i = e / BK;
            var kk = e % BK;
            if (TA) {
                i = e % BM;
                kk = e / BM;
            }
            a_tile[kk * BM + i] = a_at(row0 + i, k0 + kk, m, k);
        }
        for (var l = 0u; l < (BK * BN) / THREADS; l++) {
            let e = t + l * THREADS;
            var j = e % BN;
            var kk = e / BN;
            if (TB) {
                j = e / BK;
                kk = e % BK;
            }
            b_tile[kk * BN + j] = b_at(k0 + kk, col0 + j, k, n);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var r = 0u; r < TM; r++) {
                av[r] = a_tile[kk * BM + lid.y * TM + r];
            }
            for (var s = 0u; s < TN; s++) {
                bv[s] = b_tile[kk * BN + lid.x * TN + s];
            }
            for (var r = 0u; r < TM; r++) {
                for (var s = 0u; s < TN; s++) {
                    acc[r * TN + s] = fma(av[r], bv[s], acc[r * TN + s]);
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = tile_product(wid, lid);
    for (var r = 0u; r < TM; r++) {
        let i = wid.y * BM + lid.y * TM + r;
        for (var s = 0u; s < TN; s++) {
            let j = wid.x * BN + lid.x * TN + s;
            if (i < p.dims.x && j < p.dims.y) {
                c[i * p.dims.y + j] = acc[r * TN + s];
            }
        }
    }
}

// The fused epilogue of a Linear layer: c = act(op(a)·op(b) + bias).
@compute @workgroup_size(16, 16)
fn matmul_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = tile_product(wid, lid);
    for (var r = 0u; r < TM; r++) {
        let i = wid.y * BM + lid.y * TM + r;
        for (var s = 0u; s < TN; s++) {
            let j = wid.x * BN + lid.x * TN + s;
            if (i < p.dims.x && j < p.dims.y) {
                var v = acc[r * TN + s] + bias[j];
                if (ACT == 1u) {
                    v = max(v, 0.0);
                }
                c[i * p.dims.y + j] = v;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The large-tile kernel for big products on discrete GPUs: a 128×128 tile of C per workgroup of
// 16×16 invocations, each accumulating an 8×8 block as 16 vec4 registers. Tiles of op(a) and
// op(b) are staged k-major in workgroup memory so each step reads two vec4s of each; the block
// rows are split (ty·4 and 64 + ty·4) so neighbouring invocations read neighbouring vec4s.

const LM: u32 = 128u;
const LN: u32 = 128u;
const LK: u32 = 8u;

var<workgroup> a_large: array<vec4<f32>, 256>; // [LK][LM / 4]
var<workgroup> b_large: array<vec4<f32>, 256>; // [LK][LN / 4]

fn large_product(wid: vec3<u32>, lid: vec3<u32>) -> array<vec4<f32>, 16> {
    let m = p.dims.x;
    let n = p.dims.y;
    let k = p.dims.z;
    let row0 = wid.y * LM;
    let col0 = wid.x * LN;
    let t = lid.y * 16u + lid.x;
    var acc: array<vec4<f32>, 16>; // [8 rows][2 vec4 column groups]
    for (var k0 = 0u; k0 < k; k0 += LK) {
        // Each invocation stages 4 values of each tile, walking the stored matrix along its rows.
        for (var l = 0u; l < 4u; l++) {
            let e = t * 4u + l; // 0..1024
            var i = e / LK;
            var kk = e % LK;
            if (TA) {
                i = e % LM;
                kk = e / LM;
            }
            a_large[kk * (LM / 4u) + i / 4u][i % 4u] = a_at(row0 + i, k0 + kk, m, k);
            var j = e % LN;
            var kb = e / LN;
            if (TB) {
                j = e / LK;
                kb = e % LK;
            }
            b_large[kb * (LN / 4u) + j / 4u][j % 4u] = b_at(k0 + kb, col0 + j, k, n);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < LK; kk++) {
            let a0 = a_large[kk * 32u + lid.y];
            let a1 = a_large[kk * 32u + lid.y + 16u];
            let b0 = b_large[kk * 32u + lid.x];
            let b1 = b_large[kk * 32u + lid.x + 16u];
            for (var r = 0u; r < 4u; r++) {
                acc[r * 2u] = fma(vec4<f32>(a0[r]), b0, acc[r * 2u]);
                acc[r * 2u + 1u] = fma(vec4<f32>(a0[r]), b1, acc[r * 2u + 1u]);
                acc[8u + r * 2u] = fma(vec4<f32>(a1[r]), b0, acc[8u + r * 2u]);
                acc[8u + r * 2u + 1u] = fma(vec4<f32>(a1[r]), b1, acc[8u + r * 2u + 1u]);
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// Row `r` (0..8) of this invocation's block, and column group `g` (0..2).
fn large_row(wid: vec3<u32>, lid: vec3<u32>, r: u32) -> u32 {
    return wid.y * LM + (r / 4u) * 64u + lid.y * 4u + r % 4u;
}

fn large_col(wid: vec3<u32>, lid: vec3<u32>, g: u32) -> u32 {
    return wid.x * LN + g * 64u + lid.x * 4u;
}

@compute @workgroup_size(16, 16)
fn matmul_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = large_product(wid, lid);
    for (var r = 0u; r < 8u; r++) {
        let i = large_row(wid, lid, r);
        for (var g = 0u; g < 2u; g++) {
            let j = large_col(wid, lid, g);
            let v = acc[r * 2u + g];
            for (var q = 0u; q < 4u; q++) {
                if (i < p.dims.x && j + q < p.dims.y) {
                    c[i * p.dims.y + j + q] = v[q];
                }
            }
        }
    }
}

@compute @workgroup_size(16, 16)
fn matmul_large_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = large_product(wid, lid);
    for (var r = 0u; r < 8u; r++) {
        let i = large_row(wid, lid, r);
        for (var g = 0u; g < 2u; g++) {
            let j = large_col(wid, lid, g);
            let v = acc[r * 2u + g];
            for (var q = 0u; q < 4u; q++) {
                if (i < p.dims.x && j + q < p.dims.y) {
                    var o = v[q] + bias[j + q];
                    if (ACT == 1u) {
                        o = max(o, 0.0);
                    }
                    c[i * p.dims.y + j + q] = o;
                }
            }
        }
    }
}
