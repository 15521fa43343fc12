//! The register-blocked matmul for CPU adapters (lavapipe), generated for each block size and
//! operand layout.
//!
//! On a CPU Vulkan driver a workgroup runs its invocations 8 to a SIMD register, and every
//! storage-buffer access is a loop over those 8 lanes (Mesa 22), so loads, not arithmetic, bound
//! a matmul. The cure is reuse: each invocation keeps a TM×TN block of C in registers and, per
//! four steps along k, loads TM + TN vec4s (or their scalars, where a row is not 16-byte
//! aligned) for 4·TM·TN FMAs; workgroup memory would only add barriers. Measured on lavapipe
//! (512³): rolled loops run 2× slower than straight-line code, so the block is unrolled here, in
//! Rust, rather than written out by hand in `shaders/`. `ACT` is an override constant, a unary op
//! code as in `shaders/matmul.wgsl`; edges in m, n and k are clamped on load and masked. C is
//! stored in vec4s when its rows are 16-byte aligned (`c_vec`), from a rolled loop (see
//! `STORES`): unrolled stores, not the arithmetic, were most of LLVM's compile time.

/// Block sizes the backend may choose, biggest first: `(rows, cols)` per invocation. Few, since
/// lavapipe compiles each kernel at its first dispatch. Measured cold on 2 cores (Mesa 22.3): a
/// 32×32 block compiled for 4–7 s (its step loop alone 2.7 s) against 1.3–2.3 s for 32×16, and
/// five of them made a digits run wait 25 s; 32×16 costs 7–15% of the 32×32 step speed there.
pub const BLOCKS: [(u32, u32); 3] = [(32, 16), (16, 16), (8, 8)];

/// vec4 stores written out per pass of the store loop: more made LLVM's compile time grow
/// faster than the kernel's (256 of them took 3–4 s of a 32×32 block's 7 s).
const STORES: u32 = 64;

/// Lanes per workgroup: one SIMD register of lavapipe's 256-bit build.
pub const LANES: u32 = 8;

/// One generated kernel: block size, transposes, whether each operand is read as vec4s
/// (its contiguous dimension a multiple of 4) and whether a bias is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    pub tm: u32,
    pub tn: u32,
    pub ta: bool,
    pub tb: bool,
    pub a_vec: bool,
    pub b_vec: bool,
    pub c_vec: bool,
    pub bias: bool,
}

impl Spec {
    /// The kernel for `op(a)[m, k]·op(b)[k, n]`, its block the largest that still makes at
    /// least `min_groups` workgroups, so no core idles.
    pub fn choose(m: u32, n: u32, k: u32, ta: bool, tb: bool, bias: bool, min_groups: u32) -> Spec {
        // Bigger blocks need fewer loads per FMA, but lanes past the edges of C waste their
        // work and too few workgroups leave cores idle: take the biggest block that keeps at
        // least half its lanes busy and every core fed.
        let fits = |&(tm, tn): &(u32, u32)| {
            let used =
                (m as f64 / (m.div_ceil(tm) * tm) as f64) * (n as f64 / (n.div_ceil(tn * LANES) * tn * LANES) as f64);
            used >= 0.5 && m.div_ceil(tm) * n.div_ceil(tn * LANES) >= min_groups
        };
        let (tm, tn) = BLOCKS.iter().copied().find(fits).unwrap_or(BLOCKS[BLOCKS.len() - 1]);
        Spec {
            tm,
            tn,
            ta,
            tb,
            // The contiguous dimension of each stored operand: a [m, k] or [k, m]; b [k, n] or [n, k].
            a_vec: if ta { m.is_multiple_of(4) } else { k.is_multiple_of(4) },
            b_vec: if tb { k.is_multiple_of(4) } else { n.is_multiple_of(4) },
            c_vec: n.is_multiple_of(4),
            bias,
        }
    }

    /// Block and layout in a few words: `32x16 a·bᵀ +bias, vec4 a b c`.
    pub fn describe(&self) -> String {
        let t = |on: bool| if on { "ᵀ" } else { "" };
        let vecs: Vec<&str> = [(self.a_vec, "a"), (self.b_vec, "b"), (self.c_vec, "c")]
            .iter()
            .filter(|v| v.0)
            .map(|v| v.1)
            .collect();
        format!(
            "{}x{} a{}·b{}{}, vec4 {}",
            self.tm,
            self.tn,
            t(self.ta),
            t(self.tb),
            if self.bias { " +bias" } else { "" },
            if vecs.is_empty() { "none".into() } else { vecs.join(" ") }
        )
    }

    /// The workgroup grid for `[m, n]` outputs.
    pub fn grid(&self, m: u32, n: u32) -> [u32; 3] {
        if m == 0 || n == 0 {
            return [0, 0, 0];
        }
        [n.div_ceil(self.tn * LANES), m.div_ceil(self.tm), 1]
    }

    /// The kernel's WGSL (without `shaders/common.wgsl`): the bindings and the entry point's
    /// start, then per step of 4 along k the loads of op(a) and op(b) and the block's FMAs,
    /// then the stores (with the bias) and the activation.
    pub fn source(&self) -> String {
        let mut s = Lines::default();
        self.declare(&mut s);
        self.load_a(&mut s);
        self.load_b(&mut s);
        self.accumulate(&mut s);
        s.w("    }".into());
        self.store(&mut s);
        self.activate(&mut s);
        s.w("}".into());
        s.0
    }

    /// The bindings, the entry point, its clamped rows and columns and zeroed accumulators, and
    /// the head of the loop over k.
    fn declare(&self, s: &mut Lines) {
        let Spec {
            tm,
            tn,
            a_vec,
            b_vec,
            c_vec,
            bias,
            ..
        } = *self;
        let tv = tn / 4; // vec4s per block row
        let elem = |v: bool| if v { "vec4<f32>" } else { "f32" };
        s.w(format!("// Generated by src/engine/backend/wgpu/blocked.rs: {self:?}"));
        s.w(format!(
            "@group(0) @binding(1) var<storage, read> a: array<{}>;",
            elem(a_vec)
        ));
        s.w(format!(
            "@group(0) @binding(2) var<storage, read> b: array<{}>;",
            elem(b_vec)
        ));
        if bias {
            s.w("@group(0) @binding(3) var<storage, read> bias: array<f32>;".into());
        }
        s.w(format!(
            "@group(0) @binding(4) var<storage, read_write> c: array<{}>;",
            elem(c_vec)
        ));
        s.w("override ACT: u32 = 0u;".into());
        s.w(format!("@compute @workgroup_size({LANES}, 1)"));
        s.w("fn matmul_blocked(@builtin(global_invocation_id) gid: vec3<u32>) {".into());
        s.w("    let m = p.dims.x;\n    let n = p.dims.y;\n    let k = p.dims.z;".into());
        s.w(format!("    let row0 = gid.y * {tm}u;\n    let col0 = gid.x * {tn}u;"));
        // Clamped rows and columns: edge lanes compute on real data and store nothing.
        for r in 0..tm {
            s.w(format!("    let r{r} = min(row0 + {r}u, m - 1u);"));
        }
        for c in 0..tn {
            s.w(format!("    let c{c} = min(col0 + {c}u, n - 1u);"));
        }
        for r in 0..tm {
            for v in 0..tv {
                s.w(format!("    var acc{r}_{v} = vec4<f32>(0.0);"));
            }
        }
        s.w("    for (var k0 = 0u; k0 < k; k0 += 4u) {".into());
        for q in 0..4 {
            s.w(format!("        let k{q} = min(k0 + {q}u, k - 1u);"));
        }
    }

    /// `a{r}`: row r of op(a) at k0..k0+4, as a vec4 over k.
    fn load_a(&self, s: &mut Lines) {
        let Spec { tm, ta, a_vec, .. } = *self;
        let xyzw = ["x", "y", "z", "w"];
        match (ta, a_vec) {
            (false, true) => (0..tm).for_each(|r| s.w(format!("        let a{r} = a[r{r} * (k / 4u) + k0 / 4u];"))),
            (false, false) => (0..tm).for_each(|r| {
                s.w(format!("        let a{r} = vec4<f32>(a[r{r} * k + k0], a[r{r} * k + k1], a[r{r} * k + k2], a[r{r} * k + k3]);"))
            }),
            (true, true) => {
                // Stored [k, m]: each load is 4 rows at one k; the transpose is free in SIMD lanes.
                for q in 0..4 {
                    for g in 0..tm / 4 {
                        s.w(format!("        let t{q}_{g} = a[k{q} * (m / 4u) + r{} / 4u];", g * 4));
                    }
                }
                for r in 0..tm {
                    let (g, j) = (r / 4, xyzw[(r % 4) as usize]);
                    s.w(format!("        let a{r} = vec4<f32>(t0_{g}.{j}, t1_{g}.{j}, t2_{g}.{j}, t3_{g}.{j});"));
                }
            }
            (true, false) => (0..tm).for_each(|r| {
                s.w(format!("        let a{r} = vec4<f32>(a[k0 * m + r{r}], a[k1 * m + r{r}], a[k2 * m + r{r}], a[k3 * m + r{r}]);"))
            }),
        }
    }

    /// `b{q}_{v}`: row k0+q of op(b), columns 4v..4v+4 of the block.
    fn load_b(&self, s: &mut Lines) {
        let Spec { tn, tb, b_vec, .. } = *self;
        let tv = tn / 4; // vec4s per block row
        let xyzw = ["x", "y", "z", "w"];
        match (tb, b_vec) {
            (false, true) => {
                for q in 0..4 {
                    for v in 0..tv {
                        s.w(format!("        let b{q}_{v} = b[k{q} * (n / 4u) + c{} / 4u];", v * 4));
                    }
                }
            }
            (false, false) => {
                for q in 0..4 {
                    for v in 0..tv {
                        let e: Vec<String> = (0..4).map(|j| format!("b[k{q} * n + c{}]", v * 4 + j)).collect();
                        s.w(format!("        let b{q}_{v} = vec4<f32>({});", e.join(", ")));
                    }
                }
            }
            (true, true) => {
                // Stored [n, k]: each load is one column over 4 k; regroup into rows of op(b).
                for c in 0..tn {
                    s.w(format!("        let u{c} = b[c{c} * (k / 4u) + k0 / 4u];"));
                }
                for q in 0..4 {
                    for v in 0..tv {
                        let e: Vec<String> = (0..4).map(|j| format!("u{}.{}", v * 4 + j, xyzw[q as usize])).collect();
                        s.w(format!("        let b{q}_{v} = vec4<f32>({});", e.join(", ")));
                    }
                }
            }
            (true, false) => {
                for q in 0..4 {
                    for v in 0..tv {
                        let e: Vec<String> = (0..4).map(|j| format!("b[c{} * k + k{q}]", v * 4 + j)).collect();
                        s.w(format!("        let b{q}_{v} = vec4<f32>({});", e.join(", ")));
                    }
                }
            }
        }
    }

    /// The step's FMAs into the accumulators, steps past k masked to nothing.
    fn accumulate(&self, s: &mut Lines) {
        let Spec { tm, tn, .. } = *self;
        let tv = tn / 4; // vec4s per block row
        let xyzw = ["x", "y", "z", "w"];
        // Steps past k (when k % 4 != 0) read clamped values: zero their contribution.
        s.w("        let live = select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(k));".into());
        // Masked on whichever operand has fewer vec4s in the step: tm of a, tn of b.
        let mask_b = tn < tm;
        if mask_b {
            for q in 0..4 {
                for v in 0..tv {
                    s.w(format!("        let m{q}_{v} = b{q}_{v} * live.{};", xyzw[q as usize]));
                }
            }
        }
        let (av, bv) = if mask_b { ("a", "m") } else { ("l", "b") };
        for r in 0..tm {
            if !mask_b {
                s.w(format!("        let l{r} = a{r} * live;"));
            }
            for v in 0..tv {
                s.w(format!(
                    "        acc{r}_{v} = fma(vec4<f32>({av}{r}.x), {bv}0_{v}, fma(vec4<f32>({av}{r}.y), {bv}1_{v}, fma(vec4<f32>({av}{r}.z), {bv}2_{v}, fma(vec4<f32>({av}{r}.w), {bv}3_{v}, acc{r}_{v}))));"
                ));
            }
        }
    }

    /// The block's stores, with the bias, masked at C's edges.
    fn store(&self, s: &mut Lines) {
        let Spec {
            tm, tn, c_vec, bias, ..
        } = *self;
        let tv = tn / 4; // vec4s per block row
        let xyzw = ["x", "y", "z", "w"];
        if bias {
            for v in 0..tv {
                s.w(format!(
                    "    let bias{v} = vec4<f32>(bias[c{}], bias[c{}], bias[c{}], bias[c{}]);",
                    4 * v,
                    4 * v + 1,
                    4 * v + 2,
                    4 * v + 3
                ));
            }
        }
        // The block leaves in `parts` passes of a rolled loop, rq rows each, pass q picking its
        // rows' accumulators by a tree of selects (registers cannot be indexed), so the stores
        // are written out once per pass rather than once per row of the block.
        let parts = (tm * tv / STORES).max(1);
        let rq = tm / parts;
        s.w(format!("    for (var q = 0u; q < {parts}u; q++) {{"));
        s.w(format!("    let qrow = row0 + q * {rq}u;"));
        for r in 0..rq {
            s.w(format!("    if (qrow + {r}u < m) {{"));
            for v in 0..tv {
                s.w(format!("        let o{v} = {};", select_tree(0..parts, rq, r, v)));
            }
            if c_vec {
                for v in 0..tv {
                    let add = if bias { format!(" + bias{v}") } else { String::new() };
                    s.w(format!(
                        "        if (col0 + {}u < n) {{ c[((qrow + {r}u) * n + col0) / 4u + {v}u] = o{v}{add}; }}",
                        4 * v
                    ));
                }
            } else {
                for c in 0..tn {
                    let (v, j) = (c / 4, xyzw[(c % 4) as usize]);
                    let add = if bias { format!(" + bias{v}.{j}") } else { String::new() };
                    s.w(format!(
                        "        if (col0 + {c}u < n) {{ c[(qrow + {r}u) * n + col0 + {c}u] = o{v}.{j}{add}; }}"
                    ));
                }
            }
            s.w("    }".into());
        }
        s.w("    }".into());
    }

    /// The activation in a loop over the stored block: one call of the op's math (a switch over
    /// every op until the pipeline's ACT folds it) rather than one per element of the block.
    fn activate(&self, s: &mut Lines) {
        let Spec { tm, tn, c_vec, .. } = *self;
        s.w("    if (ACT != IDENTITY) {".into());
        s.w(format!("        for (var r = row0; r < min(row0 + {tm}u, m); r++) {{"));
        // C's elements are vec4s (4 columns a step) or scalars (one, widened for the op's math).
        let (step, at, widen, narrow) = if c_vec {
            (4, "(r * n + j) / 4u", "c[i]", "")
        } else {
            (1, "r * n + j", "vec4<f32>(c[i])", ".x")
        };
        s.w(format!(
            "            for (var j = col0; j < min(col0 + {tn}u, n); j += {step}u) {{"
        ));
        s.w(format!("                let i = {at};"));
        s.w(format!("                c[i] = unary_f(ACT, {widen}, p.s0.x){narrow};"));
        s.w("            }".into());
        s.w("        }".into());
        s.w("    }".into());
    }
}

/// WGSL being written, a line at a time.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn w(&mut self, line: String) {
        self.0.push_str(&line);
        self.0.push('\n');
    }
}

/// The accumulator of row `q·rq + r`, vec4 column `v`, for the store loop's pass `q` among
/// `parts`: for two parts `select(acc{r}_{v}, acc{rq + r}_{v}, q >= 1u)`, each level halving the range.
fn select_tree(parts: std::ops::Range<u32>, rq: u32, r: u32, v: u32) -> String {
    if parts.len() == 1 {
        return format!("acc{}_{v}", parts.start * rq + r);
    }
    let mid = (parts.start + parts.end) / 2;
    format!(
        "select({}, {}, q >= {mid}u)",
        select_tree(parts.start..mid, rq, r, v),
        select_tree(mid..parts.end, rq, r, v)
    )
}
