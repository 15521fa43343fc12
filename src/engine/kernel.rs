//! The kernel set: every computation a launch can run, what each binds (its buffers' roles,
//! lengths from the launch's sizes, and whether it writes them) and how its sizes follow from
//! the shapes of a graph node. No backend is named here: the CPU backend runs each kernel as its
//! reference (`backend/cpu/`, a file per family), the GPU through WGSL (`backend/wgpu/kernels.rs`
//! maps each to its entry point and grid); both check a launch's buffers with
//! [`Kernel::check_buffers`]. The graph's nodes and gradient rules are kernels of this set.

use crate::engine::error::{Error, Result};
use crate::engine::op::random::drop_threshold;
use crate::engine::op::{Axis, BinaryOp, Broadcast, Epilogue, Operand, UnaryOp};
use crate::engine::shape::Shape;

/// A kernel of the kernel set: which computation a launch runs. Sizes come with [`Params`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    /// `y = f(x)`; dims `[n]`.
    Unary(UnaryOp),
    /// `dx = dy · f'(x)` (from `x`, the saved `y` and `dy`); dims `[n]`.
    UnaryGrad(UnaryOp),
    /// `c = f(a, b)`; dims `[n]`.
    Binary(BinaryOp),
    /// `da` or `db` of `c = f(a, b)` from `a`, `b` and `dc`; dims `[n]`.
    BinaryGrad(BinaryOp, Operand),
    /// `c[m, n] = op(a)·op(b)`, `op` transposing the stored matrix when the flag is set
    /// (`a` stored `[m, k]`, or `[k, m]` with `ta`; `b` stored `[k, n]`, or `[n, k]` with `tb`),
    /// plus `bias[n]` with `bias`, then the [`Epilogue`]: an activation (with the bias), or an
    /// activation's backward from its input `x` and output `y` (`[m, n]` each, without a bias).
    /// dims `[m, n, k]`.
    Matmul {
        ta: bool,
        tb: bool,
        bias: bool,
        epilogue: Epilogue,
    },
    /// `y[i, j] = x[i, j] + bias[j]`; dims `[rows, cols]`.
    BiasAdd,
    /// `y[j] = Σ_i x[i, j]` (the bias gradient); dims `[rows, cols]`.
    ColSum,
    /// `y[i] = Σ_j x[i, j]`; dims `[rows, cols]`.
    RowSum,
    /// `y[i] = max_j x[i, j]`; dims `[rows, cols]`.
    RowMax,
    /// `dx[i, j] = dy[i]` where `x[i, j]` is the row's maximum, else 0; dims `[rows, cols]`.
    RowMaxGrad,
    /// `y[0] = Σ x`; dims `[n]`.
    SumAll,
    /// Spreads a reduced tensor back over `[rows, cols]`; dims `[rows, cols]`.
    Broadcast(Broadcast),
    /// `y[i, j] = x[i, j] − ln Σ_k e^x[i, k]`, row by row (max-subtracted); dims `[rows, cols]`.
    LogSoftmax,
    /// `dx[i, j] = dy[i, j] − e^y[i, j] · Σ_k dy[i, k]` from the forward's output `y`; dims
    /// `[rows, cols]`.
    LogSoftmaxGrad,
    /// Softmax cross-entropy of logits `[rows, cols]` against class labels `[rows]` (class
    /// indices stored as numbers), the labels smoothed as PyTorch's `label_smoothing` does (the
    /// target is `1 − s` on the label plus `s / cols` on every class): writes the probabilities
    /// and the mean loss; dims `[rows, cols]`; scalars `[s]`. `weighted`: each example's loss
    /// counts by its weight of a `[rows]` binding of weights summing to 1 (`wᵢ / Σ w`, which the
    /// builders make), so the loss is the weighted mean `Σ wᵢ·lᵢ / Σ wᵢ` (PyTorch's `weight=`
    /// with `reduction="mean"`); so do every loss kernel's `weighted` forms.
    SoftmaxCe { smoothing: f64, weighted: bool },
    /// `dlogits = (p − target) · dloss / rows` (weighted: `· wᵢ` for `/ rows`), the target
    /// smoothed as the forward's; dims `[rows, cols]`; scalars `[s]`.
    SoftmaxCeGrad { smoothing: f64, weighted: bool },
    /// Both at once, for a training step: the mean loss and `dlogits` from the logits, labels and
    /// `dloss`, without keeping the probabilities; dims `[rows, cols]`; scalars `[s]`.
    SoftmaxCeFused { smoothing: f64, weighted: bool },
    /// Inverted dropout: `y[i] = x[i] / (1 − p)` where the counter hash of `(stream, step, i)`
    /// is at least `p · 2³²` (see [`random`](crate::engine::op::random)), else 0. The backward is the same
    /// launch on `dy` (the same counters draw the same mask). dims `[n, stream, step,
    /// threshold]`; scalars `[1 / (1 − p)]`.
    Dropout { p: f64, stream: u32 },
    /// `x̂·gain[j] + bias[j]`, `x̂ = (x − mean) / √(var + eps)` with the mean and (biased)
    /// variance of each row or each column of `[rows, cols]` (a layer or batch norm in one
    /// launch); dims `[rows, cols]`; scalars `[eps]`.
    Normalize { axis: Axis, eps: f64 },
    /// The backward to `x` from `x`, `gain` and `dy`, the statistics recomputed: with
    /// `g = dy·gain[j]`, `dx = (g − mean(g) − x̂·mean(g·x̂)) / √(var + eps)`; dims `[rows, cols]`;
    /// scalars `[eps]`.
    NormalizeGrad { axis: Axis, eps: f64 },
    /// `y[i] = scale · byte i` of bytes packed four to an element by
    /// [`pack_bytes`](crate::engine::element::pack_bytes); dims `[n]`; scalars `[scale]`.
    UnpackBytes,
    /// Mean binary cross-entropy of logits `z` against 0/1 targets `t` (PyTorch's
    /// `BCEWithLogitsLoss`): `Σ max(z, 0) − z·t + ln(1 + e^−|z|)` over the `n` elements, / n,
    /// finite for logits of ±1e4; dims `[n]`. `weighted`: the `n` elements are `examples` rows
    /// of `n / examples`, each row's mean weighted by its weight (summing to 1); dims
    /// `[n, examples]`.
    SigmoidBce { weighted: bool },
    /// `dz = (σ(z) − t) · dloss / n` (weighted: `· wᵢ / (n / examples)`); dims as the forward's.
    SigmoidBceGrad { weighted: bool },
    /// Both at once, for a training step: the mean loss and `dz`; dims as the forward's.
    SigmoidBceFused { weighted: bool },
    /// Mean squared error `Σ (p − t)² / n` (weighted as [`Kernel::SigmoidBce`]); dims `[n]`, or
    /// `[n, examples]` weighted.
    Mse { weighted: bool },
    /// `dp = 2 (p − t) · dloss / n` (weighted: `· wᵢ / (n / examples)`); dims as the forward's.
    MseGrad { weighted: bool },
    /// `w −= lr · (g + wd·w)`; dims `[n]`; scalars `[lr, weight_decay]`.
    Sgd,
    /// PyTorch's momentum SGD; dims `[n, nesterov]`; scalars `[lr, momentum, weight_decay]`.
    Momentum,
    /// Adam (`dims[1] = 0`) or AdamW (`dims[1] = 1`); dims `[n, decoupled]`; scalars
    /// `[lr, beta1, beta2, eps, weight_decay, 1 − beta1ᵗ, 1 − beta2ᵗ]`.
    Adam,
    /// The device's fp32 FMA roof: `invocations` lanes each run `iterations` × 64 flops and
    /// write one value; dims `[iterations, invocations]`; scalars `[mul, add]`.
    FmaRoof,
}

/// The sizes and constants of one launch. `dims` are counts (see each [`Kernel`]); `scalars` are
/// constants such as a learning rate, kept in f64 so the f64 CPU backend loses nothing.
///
/// ```
/// use shadergrad::backend::Params;
/// let p = Params::dims(&[4, 8, 16]).with_scalars(&[0.5]);
/// assert_eq!(p.dims, [4, 8, 16, 0]);
/// assert_eq!(p.scalars[0], 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Params {
    pub dims: [u32; 4],
    pub scalars: [f64; 8],
}

impl Params {
    /// Params with the given dims (at most 4) and no scalars.
    pub fn dims(dims: &[u32]) -> Self {
        let mut p = Params::default();
        p.dims[..dims.len()].copy_from_slice(dims);
        p
    }

    /// The same params with the given scalars (at most 8).
    pub fn with_scalars(mut self, scalars: &[f64]) -> Self {
        self.scalars[..scalars.len()].copy_from_slice(scalars);
        self
    }

    /// `dims[i]` as a count.
    pub fn d(&self, i: usize) -> usize {
        self.dims[i] as usize
    }
}

/// One buffer a kernel binds: its slot (the `@binding` of its WGSL, and the order a launch's
/// buffers come in on any backend is the order of [`Kernel::bindings`]), its role, how many values it must
/// hold, and whether the kernel writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub slot: u32,
    pub role: &'static str,
    pub len: usize,
    pub write: bool,
}

const fn read(slot: u32, role: &'static str, len: usize) -> Binding {
    Binding {
        slot,
        role,
        len,
        write: false,
    }
}

const fn write(slot: u32, role: &'static str, len: usize) -> Binding {
    Binding {
        slot,
        role,
        len,
        write: true,
    }
}

/// The families kernels come in, each a file of the CPU reference and of the graph's builders
/// and gradient rules, and (but for the products, which the GPU tiles as it sees fit) a WGSL file
/// or two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// One value out per value in: unary and binary ops and their gradients, the bias add,
    /// dropout, unpacking bytes, the FMA roof.
    Elementwise,
    /// The matrix product with its epilogues.
    Products,
    /// Sums and maxima over rows, columns or everything, their broadcasts, the log-softmax.
    Reductions,
    /// Softmax cross-entropy, sigmoid binary cross-entropy, mean squared error.
    Losses,
    /// Layer and batch norm.
    Normalization,
    /// Optimizer updates.
    Optimizer,
}

/// `name`, with `_weighted` for a weighted loss.
fn weighted_name(name: &str, weighted: bool) -> String {
    if weighted {
        format!("{name}_weighted")
    } else {
        name.to_string()
    }
}

/// The bindings of a loss over `n` elements of a prediction and a target (`names`: the
/// prediction, the target and the prediction's gradient), weighted by `examples` weights when
/// there are: the forward writes the mean loss, the backward reads `dloss` and writes the
/// gradient.
fn elementwise_loss(
    forward: bool,
    backward: bool,
    [pred, target, grad]: [&'static str; 3],
    n: usize,
    examples: Option<usize>,
) -> Vec<Binding> {
    let mut b = vec![read(1, pred, n), read(2, target, n)];
    if let Some(examples) = examples {
        b.push(read(8, "weights", examples));
    }
    if backward {
        b.push(read(6, "dloss", 1));
    }
    if forward {
        b.push(write(4, "loss", 1));
    }
    if backward {
        b.push(write(7, grad, n));
    }
    b
}

/// `bindings` with a `[rows]` binding of weights after the labels (third), when `weighted`.
fn with_weights(weighted: bool, rows: usize, mut bindings: Vec<Binding>) -> Vec<Binding> {
    if weighted {
        bindings.insert(2, read(8, "weights", rows));
    }
    bindings
}

impl Kernel {
    /// Whether this is a loss's weighted form, which binds example weights after the labels.
    ///
    /// ```
    /// use shadergrad::kernel::Kernel;
    /// assert!(Kernel::Mse { weighted: true }.weighted());
    /// assert!(!Kernel::SoftmaxCe { smoothing: 0.0, weighted: false }.weighted());
    /// ```
    pub fn weighted(&self) -> bool {
        match *self {
            Kernel::SoftmaxCe { weighted, .. }
            | Kernel::SoftmaxCeGrad { weighted, .. }
            | Kernel::SoftmaxCeFused { weighted, .. }
            | Kernel::SigmoidBce { weighted }
            | Kernel::SigmoidBceGrad { weighted }
            | Kernel::SigmoidBceFused { weighted }
            | Kernel::Mse { weighted }
            | Kernel::MseGrad { weighted } => weighted,
            _ => false,
        }
    }

    /// Its family.
    pub fn family(&self) -> Family {
        match self {
            Kernel::Unary(_)
            | Kernel::UnaryGrad(_)
            | Kernel::Binary(_)
            | Kernel::BinaryGrad(..)
            | Kernel::BiasAdd
            | Kernel::Dropout { .. }
            | Kernel::UnpackBytes
            | Kernel::FmaRoof => Family::Elementwise,
            Kernel::Matmul { .. } => Family::Products,
            Kernel::ColSum
            | Kernel::RowSum
            | Kernel::RowMax
            | Kernel::RowMaxGrad
            | Kernel::SumAll
            | Kernel::Broadcast(_)
            | Kernel::LogSoftmax
            | Kernel::LogSoftmaxGrad => Family::Reductions,
            Kernel::SoftmaxCe { .. }
            | Kernel::SoftmaxCeGrad { .. }
            | Kernel::SoftmaxCeFused { .. }
            | Kernel::SigmoidBce { .. }
            | Kernel::SigmoidBceGrad { .. }
            | Kernel::SigmoidBceFused { .. }
            | Kernel::Mse { .. }
            | Kernel::MseGrad { .. } => Family::Losses,
            Kernel::Normalize { .. } | Kernel::NormalizeGrad { .. } => Family::Normalization,
            Kernel::Sgd | Kernel::Momentum | Kernel::Adam => Family::Optimizer,
        }
    }

    /// The buffers a launch of this kernel takes, in order, with the lengths `p` implies.
    /// Slots are the `@binding` numbers of the kernel's WGSL (slot 0 is the params uniform).
    ///
    /// ```
    /// use shadergrad::backend::{Kernel, Params};
    /// let b = Kernel::BiasAdd.bindings(&Params::dims(&[2, 3]));
    /// let roles: Vec<(&str, usize, bool)> = b.iter().map(|b| (b.role, b.len, b.write)).collect();
    /// assert_eq!(roles, [("x", 6, false), ("bias", 3, false), ("y", 6, true)]);
    /// ```
    pub fn bindings(&self, p: &Params) -> Vec<Binding> {
        let n = p.d(0);
        let (rows, cols) = (p.d(0), p.d(1));
        let items = rows * cols;
        match *self {
            Kernel::Unary(_) | Kernel::Dropout { .. } => vec![read(1, "x", n), write(2, "y", n)],
            Kernel::UnaryGrad(_) => vec![read(1, "x", n), read(3, "y", n), read(4, "dy", n), write(5, "dx", n)],
            Kernel::Binary(_) => vec![read(1, "a", n), read(2, "b", n), write(3, "c", n)],
            Kernel::BinaryGrad(..) => vec![read(1, "a", n), read(2, "b", n), read(4, "dc", n), write(5, "grad", n)],
            Kernel::Matmul { bias, epilogue, .. } => {
                let (m, n, k) = (p.d(0), p.d(1), p.d(2));
                let mut b = vec![read(1, "a", m * k), read(2, "b", k * n)];
                if bias {
                    b.push(read(3, "bias", n));
                }
                if let Epilogue::ActivationGrad(_) = epilogue {
                    b.push(read(6, "x", m * n));
                    b.push(read(7, "y", m * n));
                }
                b.push(write(4, "c", m * n));
                b
            }
            Kernel::BiasAdd => vec![read(1, "x", items), read(2, "bias", cols), write(3, "y", items)],
            Kernel::ColSum => vec![read(1, "x", items), write(4, "y", cols)],
            Kernel::RowSum | Kernel::RowMax => vec![read(1, "x", items), write(2, "y", rows)],
            Kernel::RowMaxGrad => vec![
                read(1, "x", items),
                read(3, "y", rows),
                read(4, "dy", rows),
                write(5, "dx", items),
            ],
            Kernel::SumAll => vec![read(1, "x", n), write(2, "y", 1)],
            Kernel::Broadcast(mode) => {
                let src = match mode {
                    Broadcast::Scalar => 1,
                    Broadcast::Rows => rows,
                    Broadcast::Cols => cols,
                };
                vec![read(1, "src", src), write(5, "dst", items)]
            }
            Kernel::LogSoftmax => vec![read(1, "x", items), write(2, "y", items)],
            Kernel::LogSoftmaxGrad => vec![read(3, "y", items), read(4, "dy", items), write(5, "dx", items)],
            Kernel::SoftmaxCe { weighted, .. } => with_weights(
                weighted,
                rows,
                vec![
                    read(1, "logits", items),
                    read(2, "labels", rows),
                    write(3, "probs", items),
                    write(4, "loss", 1),
                ],
            ),
            Kernel::SoftmaxCeGrad { weighted, .. } => with_weights(
                weighted,
                rows,
                vec![
                    read(5, "probs", items),
                    read(2, "labels", rows),
                    read(6, "dloss", 1),
                    write(7, "dlogits", items),
                ],
            ),
            Kernel::SoftmaxCeFused { weighted, .. } => with_weights(
                weighted,
                rows,
                vec![
                    read(1, "logits", items),
                    read(2, "labels", rows),
                    read(6, "dloss", 1),
                    write(4, "loss", 1),
                    write(7, "dlogits", items),
                ],
            ),
            Kernel::SigmoidBce { weighted } => elementwise_loss(
                true,
                false,
                ["logits", "targets", "dlogits"],
                n,
                weighted.then(|| p.d(1)),
            ),
            Kernel::SigmoidBceGrad { weighted } => elementwise_loss(
                false,
                true,
                ["logits", "targets", "dlogits"],
                n,
                weighted.then(|| p.d(1)),
            ),
            Kernel::SigmoidBceFused { weighted } => elementwise_loss(
                true,
                true,
                ["logits", "targets", "dlogits"],
                n,
                weighted.then(|| p.d(1)),
            ),
            Kernel::Mse { weighted } => {
                elementwise_loss(true, false, ["pred", "target", "dpred"], n, weighted.then(|| p.d(1)))
            }
            Kernel::MseGrad { weighted } => {
                elementwise_loss(false, true, ["pred", "target", "dpred"], n, weighted.then(|| p.d(1)))
            }
            Kernel::Normalize { .. } => vec![
                read(1, "x", items),
                read(6, "gain", cols),
                read(7, "bias", cols),
                write(2, "y", items),
            ],
            Kernel::NormalizeGrad { .. } => vec![
                read(1, "x", items),
                read(6, "gain", cols),
                read(4, "dy", items),
                write(5, "dx", items),
            ],
            Kernel::UnpackBytes => vec![read(1, "bytes", n.div_ceil(4)), write(2, "y", n)],
            Kernel::Sgd => vec![write(1, "w", n), read(2, "g", n)],
            Kernel::Momentum => vec![write(1, "w", n), read(2, "g", n), write(3, "v", n)],
            Kernel::Adam => vec![write(1, "w", n), read(2, "g", n), write(3, "m", n), write(4, "v", n)],
            Kernel::FmaRoof => vec![write(1, "sink", p.d(1))],
        }
    }

    /// The params of a graph node running this kernel, from the node's shape and its inputs'
    /// (in the order of its bindings). An error for the kernels no builder makes a node of
    /// (fused kernels, optimizer updates, unpacking bytes, the FMA roof).
    ///
    /// ```
    /// use shadergrad::backend::{Kernel, Params};
    /// use shadergrad::{op::Epilogue, Shape};
    /// let matmul = Kernel::Matmul { ta: true, tb: false, bias: false, epilogue: Epilogue::None };
    /// let p = matmul.node_params(&Shape::from([4, 5]), &[Shape::from([3, 4]), Shape::from([3, 5])])?;
    /// assert_eq!(p.dims, [4, 5, 3, 0]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn node_params(&self, shape: &Shape, inputs: &[Shape]) -> Result<Params> {
        let matrix = |s: &Shape| {
            let (r, c) = s.as_matrix();
            Params::dims(&[r as u32, c as u32])
        };
        let input = |k: usize| inputs.get(k).cloned().unwrap_or_else(Shape::scalar);
        Ok(match *self {
            Kernel::Unary(_)
            | Kernel::UnaryGrad(_)
            | Kernel::Binary(_)
            | Kernel::BinaryGrad(..)
            | Kernel::MseGrad { weighted: false }
            | Kernel::SigmoidBceGrad { weighted: false } => Params::dims(&[shape.len() as u32]),
            // Weighted elementwise losses: the elements, and the examples the weights are of.
            Kernel::MseGrad { weighted: true } | Kernel::SigmoidBceGrad { weighted: true } => {
                Params::dims(&[shape.len() as u32, input(2).len() as u32])
            }
            Kernel::Mse { weighted: true } | Kernel::SigmoidBce { weighted: true } => {
                Params::dims(&[input(0).len() as u32, input(2).len() as u32])
            }
            Kernel::Matmul { ta, .. } => {
                let a = input(0);
                let k = a.dims().get(if ta { 0 } else { 1 }).copied().unwrap_or(0);
                let (m, cols) = shape.as_matrix();
                Params::dims(&[m as u32, cols as u32, k as u32])
            }
            Kernel::BiasAdd
            | Kernel::RowMaxGrad
            | Kernel::Broadcast(_)
            | Kernel::LogSoftmax
            | Kernel::LogSoftmaxGrad => matrix(shape),
            Kernel::SoftmaxCeGrad { smoothing, .. } => matrix(shape).with_scalars(&[smoothing]),
            Kernel::Normalize { eps, .. } | Kernel::NormalizeGrad { eps, .. } => matrix(shape).with_scalars(&[eps]),
            Kernel::Dropout { p, stream } => {
                // The step (dims[2]) is set per run by Plan::set_step.
                Params::dims(&[shape.len() as u32, stream, 0, drop_threshold(p)]).with_scalars(&[1.0 / (1.0 - p)])
            }
            Kernel::SumAll | Kernel::Mse { weighted: false } | Kernel::SigmoidBce { weighted: false } => {
                Params::dims(&[input(0).len() as u32])
            }
            Kernel::RowSum | Kernel::ColSum | Kernel::RowMax => matrix(&input(0)),
            Kernel::SoftmaxCe { smoothing, .. } => matrix(&input(0)).with_scalars(&[smoothing]),
            Kernel::SoftmaxCeFused { .. }
            | Kernel::SigmoidBceFused { .. }
            | Kernel::UnpackBytes
            | Kernel::Sgd
            | Kernel::Momentum
            | Kernel::Adam
            | Kernel::FmaRoof => {
                return Err(Error::InvalidKernel {
                    kernel: self.name(),
                    why: "the graph builders make no node of it",
                })
            }
        })
    }

    /// The unary op whose constant the kernel's uniform carries (in its first scalar).
    pub fn unary_op(&self) -> Option<UnaryOp> {
        match *self {
            Kernel::Unary(op) | Kernel::UnaryGrad(op) => Some(op),
            Kernel::Matmul { epilogue, .. } => epilogue.op(),
            _ => None,
        }
    }

    /// A readable name: `relu_forward`, `matmul[tA]+bias+relu`, `adam`.
    pub fn name(&self) -> String {
        match self {
            Kernel::Unary(op) => format!("{}_forward", op.name()),
            Kernel::UnaryGrad(op) => format!("{}_backward", op.name()),
            Kernel::Binary(op) => format!("{}_forward", op.name()),
            Kernel::BinaryGrad(op, Operand::A) => format!("{}_backward_a", op.name()),
            Kernel::BinaryGrad(op, Operand::B) => format!("{}_backward_b", op.name()),
            Kernel::Matmul { ta, tb, bias, epilogue } => {
                let flags = match (ta, tb) {
                    (false, false) => "",
                    (true, false) => "[tA]",
                    (false, true) => "[tB]",
                    (true, true) => "[tA,tB]",
                };
                let bias = if *bias { "+bias" } else { "" };
                format!("matmul{flags}{bias}{}", epilogue.name())
            }
            Kernel::Broadcast(m) => format!("broadcast_{}", m.name()),
            Kernel::SoftmaxCe { weighted, .. } => weighted_name("softmax_ce", *weighted),
            Kernel::SoftmaxCeGrad { weighted, .. } => weighted_name("softmax_ce_grad", *weighted),
            Kernel::SoftmaxCeFused { weighted, .. } => weighted_name("softmax_ce_fused", *weighted),
            Kernel::SigmoidBce { weighted } => weighted_name("sigmoid_bce", *weighted),
            Kernel::SigmoidBceGrad { weighted } => weighted_name("sigmoid_bce_grad", *weighted),
            Kernel::SigmoidBceFused { weighted } => weighted_name("sigmoid_bce_fused", *weighted),
            Kernel::Mse { weighted } => weighted_name("mse", *weighted),
            Kernel::MseGrad { weighted } => weighted_name("mse_grad", *weighted),
            Kernel::Dropout { .. } => "dropout".into(),
            Kernel::Normalize { axis, .. } => format!("normalize_{}", axis.name()),
            Kernel::NormalizeGrad { axis, .. } => format!("normalize_{}_backward", axis.name()),
            other => {
                // CamelCase variant name to snake_case: ColSum -> col_sum.
                let raw = format!("{other:?}");
                let mut s = String::new();
                for (i, ch) in raw.chars().enumerate() {
                    if ch.is_uppercase() && i > 0 {
                        s.push('_');
                    }
                    s.push(ch.to_ascii_lowercase());
                }
                s
            }
        }
    }

    /// Checks a launch's buffers against what its params imply.
    pub fn check_buffers(&self, p: &Params, lens: &[usize]) -> Result<()> {
        if let Kernel::Matmul { bias, epilogue, .. } = *self {
            let why = match (bias, epilogue) {
                (true, Epilogue::ActivationGrad(_)) => Some("an activation's backward adds no bias"),
                (false, Epilogue::Activation(_)) => Some("an activation epilogue follows a bias"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(Error::InvalidKernel {
                    kernel: self.name(),
                    why,
                });
            }
        }
        let bindings = self.bindings(p);
        if lens.len() != bindings.len() {
            return Err(Error::BufferCount {
                kernel: self.name(),
                expected: bindings.len(),
                roles: bindings.iter().map(|b| b.role).collect::<Vec<_>>().join(", "),
                got: lens.len(),
            });
        }
        for (index, (b, &got)) in bindings.iter().zip(lens).enumerate() {
            if got != b.len {
                return Err(Error::KernelBuffer {
                    kernel: self.name(),
                    index,
                    role: b.role,
                    expected: b.len,
                    got,
                });
            }
        }
        Ok(())
    }

    /// One kernel of every kind (every op of the unary and binary tables, every matmul layout
    /// and epilogue), for tests that must cover the whole kernel set (`tests/shaders.rs` checks
    /// that every variant of [`Kernel`] is here).
    pub fn examples() -> Vec<Kernel> {
        let mut all = Vec::new();
        for op in UnaryOp::ALL {
            all.extend([Kernel::Unary(op), Kernel::UnaryGrad(op)]);
        }
        for op in BinaryOp::ALL {
            all.extend([
                Kernel::Binary(op),
                Kernel::BinaryGrad(op, Operand::A),
                Kernel::BinaryGrad(op, Operand::B),
            ]);
        }
        for ta in [false, true] {
            for tb in [false, true] {
                for (bias, epilogue) in [
                    (false, Epilogue::None),
                    (true, Epilogue::None),
                    (true, Epilogue::Activation(UnaryOp::Gelu)),
                    (false, Epilogue::ActivationGrad(UnaryOp::Relu)),
                ] {
                    all.push(Kernel::Matmul { ta, tb, bias, epilogue });
                }
            }
        }
        all.extend(Broadcast::ALL.map(Kernel::Broadcast));
        all.extend([
            Kernel::BiasAdd,
            Kernel::ColSum,
            Kernel::RowSum,
            Kernel::RowMax,
            Kernel::RowMaxGrad,
            Kernel::SumAll,
            Kernel::LogSoftmax,
            Kernel::LogSoftmaxGrad,
            Kernel::SoftmaxCe {
                smoothing: 0.1,
                weighted: false,
            },
            Kernel::SoftmaxCeGrad {
                smoothing: 0.1,
                weighted: false,
            },
            Kernel::SoftmaxCeFused {
                smoothing: 0.1,
                weighted: false,
            },
            Kernel::SoftmaxCe {
                smoothing: 0.1,
                weighted: true,
            },
            Kernel::SoftmaxCeGrad {
                smoothing: 0.1,
                weighted: true,
            },
            Kernel::SoftmaxCeFused {
                smoothing: 0.1,
                weighted: true,
            },
            Kernel::Dropout { p: 0.25, stream: 3 },
            Kernel::Normalize {
                axis: Axis::Rows,
                eps: 1e-5,
            },
            Kernel::NormalizeGrad {
                axis: Axis::Columns,
                eps: 1e-5,
            },
            Kernel::SigmoidBce { weighted: false },
            Kernel::SigmoidBceGrad { weighted: false },
            Kernel::SigmoidBceFused { weighted: false },
            Kernel::SigmoidBce { weighted: true },
            Kernel::SigmoidBceGrad { weighted: true },
            Kernel::SigmoidBceFused { weighted: true },
            Kernel::UnpackBytes,
            Kernel::Mse { weighted: false },
            Kernel::MseGrad { weighted: false },
            Kernel::Mse { weighted: true },
            Kernel::MseGrad { weighted: true },
            Kernel::Sgd,
            Kernel::Momentum,
            Kernel::Adam,
            Kernel::FmaRoof,
        ]);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_binds_distinct_slots_above_the_uniform() {
        for k in Kernel::examples() {
            let bindings = k.bindings(&Params::dims(&[3, 5, 7, 0]));
            let mut slots: Vec<u32> = bindings.iter().map(|b| b.slot).collect();
            slots.sort_unstable();
            slots.dedup();
            assert_eq!(slots.len(), bindings.len(), "{}", k.name());
            assert!(slots.iter().all(|&s| s > 0), "{}", k.name());
        }
    }
}
