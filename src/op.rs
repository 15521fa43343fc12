//! The ops of the kernel set: their names, the codes that select them in the WGSL shaders, and
//! their constants. The math of each op lives twice, once per backend: `backend/cpu.rs` (the
//! reference, `f` and `df` in plain Rust) and `shaders/*.wgsl`.

use std::fmt;

/// An elementwise op of one input, `y = f(x)`. Ops with a constant carry it.
///
/// ```
/// use shadergrad::UnaryOp;
/// assert_eq!(UnaryOp::LeakyRelu(0.1).name(), "leaky_relu");
/// assert_eq!(UnaryOp::Pow(2.0).constant(), 2.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `x` (a copy; what `detach` runs)
    Identity,
    /// `-x`
    Neg,
    /// `max(x, 0)`
    Relu,
    /// `x` for `x > 0`, else `alpha·x`
    LeakyRelu(f64),
    /// `x` for `x > 0`, else `alpha·(eˣ − 1)`
    Elu(f64),
    /// `1 / (1 + e⁻ˣ)`
    Sigmoid,
    /// `tanh x`
    Tanh,
    /// GELU, tanh approximation (PyTorch's `approximate="tanh"`)
    Gelu,
    /// `x·σ(x)`
    Silu,
    /// `eˣ`
    Exp,
    /// `ln x`
    Log,
    /// `1 / x`
    Recip,
    /// `x²`
    Square,
    /// `√x`
    Sqrt,
    /// `|x|`
    Abs,
    /// `xᵖ` for a constant `p`
    Pow(f64),
    /// `c·x`
    Scale(f64),
    /// `x + c`
    AddScalar(f64),
}

impl UnaryOp {
    /// Every op, with a representative constant where it takes one.
    pub const ALL: [UnaryOp; 18] = [
        UnaryOp::Identity,
        UnaryOp::Neg,
        UnaryOp::Relu,
        UnaryOp::LeakyRelu(0.1),
        UnaryOp::Elu(1.0),
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Gelu,
        UnaryOp::Silu,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Recip,
        UnaryOp::Square,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Pow(3.0),
        UnaryOp::Scale(-2.5),
        UnaryOp::AddScalar(1.5),
    ];

    /// The op's name, as the expression language and the circuit diagrams write it.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Identity => "identity",
            UnaryOp::Neg => "neg",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Elu(_) => "elu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Gelu => "gelu",
            UnaryOp::Silu => "silu",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Recip => "recip",
            UnaryOp::Square => "square",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Pow(_) => "pow",
            UnaryOp::Scale(_) => "scale",
            UnaryOp::AddScalar(_) => "add_scalar",
        }
    }

    /// The code that selects this op in `shaders/unary.wgsl` (its `const` of the same name).
    pub fn code(self) -> u32 {
        Self::ALL
            .iter()
            .position(|op| op.name() == self.name())
            .map_or(0, |i| i as u32)
    }

    /// The op's constant (alpha, exponent, scale or addend), 0 where it has none.
    pub fn constant(self) -> f64 {
        match self {
            UnaryOp::LeakyRelu(c) | UnaryOp::Elu(c) | UnaryOp::Pow(c) | UnaryOp::Scale(c) | UnaryOp::AddScalar(c) => c,
            _ => 0.0,
        }
    }

    /// A short label for diagrams: `*-1`, `+1`, `^2`, `sigmoid`.
    pub fn label(self) -> String {
        match self {
            UnaryOp::Scale(c) => format!("*{}", fmt_num(c)),
            UnaryOp::AddScalar(c) => format!("+{}", fmt_num(c)),
            UnaryOp::Pow(p) => format!("^{}", fmt_num(p)),
            UnaryOp::Square => "^2".into(),
            UnaryOp::Recip => "1/x".into(),
            UnaryOp::LeakyRelu(a) => format!("leaky_relu({})", fmt_num(a)),
            UnaryOp::Elu(a) => format!("elu({})", fmt_num(a)),
            op => op.name().into(),
        }
    }
}

/// An elementwise op of two inputs of the same shape, `c = f(a, b)`.
///
/// ```
/// use shadergrad::BinaryOp;
/// assert_eq!(BinaryOp::Max.name(), "max");
/// assert_eq!(BinaryOp::Div.symbol(), "/");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `max(a, b)`; a tie routes the gradient to `a`.
    Max,
    /// `min(a, b)`; a tie routes the gradient to `a`.
    Min,
    /// `aᵇ`
    Pow,
}

impl BinaryOp {
    /// Every binary op.
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
    ];

    /// The op's name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Pow => "pow",
        }
    }

    /// The symbol a diagram writes in the op's box.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Pow => "^",
        }
    }

    /// The code that selects this op in `shaders/binary.wgsl`.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Which input of a binary op a gradient kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    A,
    B,
}

/// How a reduced tensor is spread back over the shape it came from (the backward of a sum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Broadcast {
    /// one value to every element
    Scalar,
    /// `[rows]` to `[rows, cols]`: `dst[i, j] = src[i]`
    Rows,
    /// `[cols]` to `[rows, cols]`: `dst[i, j] = src[j]`
    Cols,
}

impl Broadcast {
    /// The code that selects this mode in `shaders/reduce.wgsl`.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// What a matmul epilogue applies to its result: nothing, a ReLU after adding the bias (a linear
/// layer's forward), or a ReLU's backward mask (the product computes the gradient flowing into a
/// ReLU; a mask buffer holds that ReLU's output, and the result is kept where it is positive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    None,
    Relu,
    ReluMask,
}

impl Activation {
    /// The code that selects this activation in `shaders/matmul.wgsl`.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Writes a number the short way: `2`, `-1`, `0.5`.
pub(crate) fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
