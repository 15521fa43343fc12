//! The ops of the kernel set, one table each: every elementwise op's name, role, default constant
//! and shader code come from one row of `unary_ops!` or `binary_ops!`, and its math (`f`, and
//! `df` for the backward) from one exhaustive `match` below it. The CPU backend and the expression
//! evaluator both call this math; the WGSL shaders get their op codes generated from the same
//! table (see `backend/wgpu/shaders.rs`), so nothing is copied by hand.
//!
//! Also here: the plain-data descriptions the graph and the kernels share: what a matmul applies
//! after its product ([`Epilogue`]), how a reduced tensor spreads back ([`Broadcast`]), which
//! operand a gradient is for ([`Operand`]), and an optimizer's update rule ([`UpdateRule`]).

use std::fmt;
use std::str::FromStr;

pub mod random;
mod update;

pub use update::UpdateRule;

use crate::engine::element::Element;
use crate::engine::error::{Error, Result};

/// What a unary op is for, which decides where it can be named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An activation: an MLP layer may use it, and expressions may call it by name.
    Activation,
    /// A function expressions may call by name.
    Function,
    /// Written with an operator or a constant (`-x`, `x^2`, `2*x`, `x + 1`), not by name.
    Operator,
}

/// Defines [`UnaryOp`] from its table: one row per op, in shader-code order.
macro_rules! unary_ops {
    ($( $(#[doc = $doc:literal])* $variant:ident $(($default:literal))? = $name:literal, $role:ident; )*) => {
        /// An elementwise op of one input, `y = f(x)`. Ops with a constant carry it.
        ///
        /// ```
        /// use shadergrad::UnaryOp;
        /// assert_eq!(UnaryOp::LeakyRelu(0.1).name(), "leaky_relu");
        /// assert_eq!(UnaryOp::Pow(2.0).constant(), 2.0);
        /// assert_eq!("elu:0.5".parse::<UnaryOp>()?, UnaryOp::Elu(0.5));
        /// assert_eq!(UnaryOp::Sigmoid.f(0.0_f64), 0.5);
        /// # Ok::<(), shadergrad::Error>(())
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $( $(#[doc = $doc])* $variant $((unary_ops!(@f64 $default)))?, )*
        }

        /// The ops in table order: a variant's discriminant here is its shader code.
        #[allow(dead_code)]
        enum UnaryCode { $($variant,)* }

        impl UnaryOp {
            /// How many unary ops there are.
            pub const COUNT: usize = [$(unary_ops!(@unit $variant)),*].len();

            /// Every op, in table order, each with its default (or a representative) constant.
            pub const ALL: [UnaryOp; Self::COUNT] = [$( UnaryOp::$variant $(($default))? ),*];

            /// The op's name, as expressions, flags and circuit diagrams write it.
            pub fn name(self) -> &'static str {
                match self { $( UnaryOp::$variant { .. } => $name, )* }
            }

            /// The code that selects this op in the shaders (its place in the table).
            pub fn code(self) -> u32 {
                match self { $( UnaryOp::$variant { .. } => UnaryCode::$variant as u32, )* }
            }

            /// What the op is for.
            pub fn role(self) -> Role {
                match self { $( UnaryOp::$variant { .. } => Role::$role, )* }
            }
        }
    };
    (@f64 $default:literal) => { f64 };
    (@unit $variant:ident) => { () };
}

unary_ops! {
    /// `x` (a copy; what `detach` runs)
    Identity = "identity", Operator;
    /// `-x`
    Neg = "neg", Operator;
    /// `max(x, 0)`
    Relu = "relu", Activation;
    /// `x` for `x > 0`, else `alpha·x` (alpha 0.01 unless given, as PyTorch's)
    LeakyRelu(0.01) = "leaky_relu", Activation;
    /// `x` for `x > 0`, else `alpha·(eˣ − 1)` (alpha 1 unless given)
    Elu(1.0) = "elu", Activation;
    /// `1 / (1 + e⁻ˣ)`
    Sigmoid = "sigmoid", Activation;
    /// `tanh x`
    Tanh = "tanh", Activation;
    /// GELU, tanh approximation (PyTorch's `approximate="tanh"`)
    Gelu = "gelu", Activation;
    /// `x·σ(x)`
    Silu = "silu", Activation;
    /// `ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^−|x|)` so it is finite for any x
    Softplus = "softplus", Activation;
    /// `eˣ`
    Exp = "exp", Function;
    /// `ln x`
    Log = "log", Function;
    /// `1 / x`
    Recip = "recip", Function;
    /// `x²`
    Square = "square", Function;
    /// `√x`
    Sqrt = "sqrt", Function;
    /// `|x|`
    Abs = "abs", Function;
    /// `xᵖ` for a constant `p`
    Pow(3.0) = "pow", Operator;
    /// `c·x`
    Scale(-2.5) = "scale", Operator;
    /// `x + c`
    AddScalar(1.5) = "add_scalar", Operator;
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_K: f64 = 0.044_715;

fn c<T: Element>(v: f64) -> T {
    T::from_f64(v)
}

fn gelu_inner<T: Element>(x: T) -> T {
    c::<T>(GELU_C) * (x + c::<T>(GELU_K) * x * x * x)
}

fn sigmoid<T: Element>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

impl UnaryOp {
    /// The op's constant (alpha, exponent, scale or addend), 0 where it has none.
    pub fn constant(self) -> f64 {
        match self {
            UnaryOp::LeakyRelu(c) | UnaryOp::Elu(c) | UnaryOp::Pow(c) | UnaryOp::Scale(c) | UnaryOp::AddScalar(c) => c,
            UnaryOp::Identity
            | UnaryOp::Neg
            | UnaryOp::Relu
            | UnaryOp::Sigmoid
            | UnaryOp::Tanh
            | UnaryOp::Gelu
            | UnaryOp::Silu
            | UnaryOp::Softplus
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Recip
            | UnaryOp::Square
            | UnaryOp::Sqrt
            | UnaryOp::Abs => 0.0,
        }
    }

    /// True when the op takes a constant.
    pub fn takes_constant(self) -> bool {
        matches!(
            self,
            UnaryOp::LeakyRelu(_) | UnaryOp::Elu(_) | UnaryOp::Pow(_) | UnaryOp::Scale(_) | UnaryOp::AddScalar(_)
        )
    }

    /// The same op with constant `v` (ops without one are returned as they are).
    pub fn with_constant(self, v: f64) -> UnaryOp {
        match self {
            UnaryOp::LeakyRelu(_) => UnaryOp::LeakyRelu(v),
            UnaryOp::Elu(_) => UnaryOp::Elu(v),
            UnaryOp::Pow(_) => UnaryOp::Pow(v),
            UnaryOp::Scale(_) => UnaryOp::Scale(v),
            UnaryOp::AddScalar(_) => UnaryOp::AddScalar(v),
            other => other,
        }
    }

    /// `y = f(x)`. Always inlined, so a loop over elements runs one op's code (a call per
    /// element cost the CPU backend a tenth of its training step's instructions).
    #[inline(always)]
    pub fn f<T: Element>(self, x: T) -> T {
        let one = T::one();
        let zero = T::zero();
        match self {
            UnaryOp::Identity => x,
            UnaryOp::Neg => -x,
            UnaryOp::Relu => x.max(zero),
            UnaryOp::LeakyRelu(a) => {
                if x > zero {
                    x
                } else {
                    c::<T>(a) * x
                }
            }
            UnaryOp::Elu(a) => {
                if x > zero {
                    x
                } else {
                    c::<T>(a) * (x.exp() - one)
                }
            }
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Gelu => c::<T>(0.5) * x * (one + gelu_inner(x).tanh()),
            UnaryOp::Silu => x / (one + (-x).exp()),
            UnaryOp::Softplus => x.max(zero) + (-x.abs()).exp().ln_1p(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Recip => one / x,
            UnaryOp::Square => x * x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Pow(p) => x.powf(c(p)),
            UnaryOp::Scale(s) => c::<T>(s) * x,
            UnaryOp::AddScalar(s) => x + c(s),
        }
    }

    /// `df/dx`, given `x` and the forward output `y = f(x)` (some derivatives are cheapest in
    /// terms of `y`: the seeds' `σ(1 − σ)`).
    #[inline(always)]
    pub fn df<T: Element>(self, x: T, y: T) -> T {
        let one = T::one();
        let zero = T::zero();
        match self {
            UnaryOp::Identity | UnaryOp::AddScalar(_) => one,
            UnaryOp::Neg => -one,
            UnaryOp::Relu => {
                if x > zero {
                    one
                } else {
                    zero
                }
            }
            UnaryOp::LeakyRelu(a) => {
                if x > zero {
                    one
                } else {
                    c(a)
                }
            }
            UnaryOp::Elu(a) => {
                if x > zero {
                    one
                } else {
                    y + c(a)
                }
            }
            UnaryOp::Sigmoid => y * (one - y),
            UnaryOp::Tanh => one - y * y,
            UnaryOp::Gelu => {
                // d/dx ½x(1 + tanh u) = ½(1 + tanh u) + ½x(1 − tanh² u)·u'
                let t = gelu_inner(x).tanh();
                let du = c::<T>(GELU_C) * (one + c::<T>(3.0 * GELU_K) * x * x);
                c::<T>(0.5) * (one + t) + c::<T>(0.5) * x * (one - t * t) * du
            }
            UnaryOp::Silu => {
                let s = sigmoid(x);
                s * (one + x * (one - s))
            }
            // σ(x), from x: from y it would be 1 − e^−y, which loses every digit for x ≪ 0.
            UnaryOp::Softplus => sigmoid(x),
            UnaryOp::Exp => y,
            UnaryOp::Log => one / x,
            UnaryOp::Recip => -y * y,
            UnaryOp::Square => c::<T>(2.0) * x,
            UnaryOp::Sqrt => c::<T>(0.5) / y,
            UnaryOp::Abs => {
                if x > zero {
                    one
                } else if x < zero {
                    -one
                } else {
                    zero
                }
            }
            UnaryOp::Pow(p) => c::<T>(p) * x.powf(c::<T>(p - 1.0)),
            UnaryOp::Scale(s) => c(s),
        }
    }

    /// True when the derivative can be computed from the output alone: `df(x, f(x))` equals
    /// `df(f(x), f(x))` for every x. A fused linear layer then need not store the activation's
    /// input for the backward pass (a unit test checks each answer against [`UnaryOp::df`]).
    pub fn derivative_from_output(self) -> bool {
        match self {
            // x > 0 exactly where y > 0 (for a non-negative alpha), and the rest reads y.
            UnaryOp::Relu => true,
            UnaryOp::LeakyRelu(a) | UnaryOp::Elu(a) => a >= 0.0,
            UnaryOp::Identity
            | UnaryOp::Neg
            | UnaryOp::Sigmoid
            | UnaryOp::Tanh
            | UnaryOp::Exp
            | UnaryOp::Recip
            | UnaryOp::Sqrt
            | UnaryOp::Scale(_)
            | UnaryOp::AddScalar(_) => true,
            UnaryOp::Gelu
            | UnaryOp::Silu
            | UnaryOp::Softplus
            | UnaryOp::Log
            | UnaryOp::Square
            | UnaryOp::Abs
            | UnaryOp::Pow(_) => false,
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

    /// The op as its `FromStr` reads it: the name, with `:constant` where the constant is not
    /// the table's default (`relu`, `leaky_relu:0.2`).
    pub fn spec(self) -> String {
        let default = Self::ALL
            .into_iter()
            .find(|op| op.name() == self.name())
            .map(UnaryOp::constant);
        if self.takes_constant() && default != Some(self.constant()) {
            format!("{}:{}", self.name(), self.constant())
        } else {
            self.name().to_string()
        }
    }

    /// The ops of a role, in table order.
    pub fn with_role(role: Role) -> impl Iterator<Item = UnaryOp> {
        Self::ALL.into_iter().filter(move |op| op.role() == role)
    }
}

impl FromStr for UnaryOp {
    type Err = Error;

    /// A name, with `:constant` for ops that take one (`leaky_relu:0.1`; the default otherwise).
    fn from_str(s: &str) -> Result<Self> {
        let (name, constant) = match s.split_once(':') {
            Some((n, v)) => (
                n,
                Some(
                    v.parse::<f64>()
                        .map_err(|_| Error::invalid("unary op", s, "a number after `:`"))?,
                ),
            ),
            None => (s, None),
        };
        let op = Self::ALL.into_iter().find(|op| op.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|op| op.name()).collect();
            Error::invalid("unary op", s, format!("one of {}", names.join(", ")))
        })?;
        match constant {
            Some(v) if op.takes_constant() => Ok(op.with_constant(v)),
            Some(_) => Err(Error::invalid("unary op", s, format!("`{name}` without a constant"))),
            None => Ok(op),
        }
    }
}

/// Defines [`BinaryOp`] from its table: one row per op, in shader-code order.
macro_rules! binary_ops {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, $symbol:literal; )*) => {
        /// An elementwise op of two inputs of the same shape, `c = f(a, b)`.
        ///
        /// ```
        /// use shadergrad::BinaryOp;
        /// assert_eq!(BinaryOp::Max.name(), "max");
        /// assert_eq!(BinaryOp::Div.symbol(), "/");
        /// assert_eq!(BinaryOp::Pow.f(2.0_f64, 3.0), 8.0);
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp { $( $(#[doc = $doc])* $variant, )* }

        impl BinaryOp {
            /// How many binary ops there are.
            pub const COUNT: usize = [$(binary_ops!(@unit $variant)),*].len();

            /// Every binary op, in table order.
            pub const ALL: [BinaryOp; Self::COUNT] = [$(BinaryOp::$variant),*];

            /// The op's name.
            pub fn name(self) -> &'static str {
                match self { $( BinaryOp::$variant => $name, )* }
            }

            /// The symbol a diagram writes in the op's box.
            pub fn symbol(self) -> &'static str {
                match self { $( BinaryOp::$variant => $symbol, )* }
            }

            /// The code that selects this op in the shaders (its place in the table).
            pub fn code(self) -> u32 {
                self as u32
            }
        }
    };
    (@unit $variant:ident) => { () };
}

binary_ops! {
    /// `a + b`
    Add = "add", "+";
    /// `a − b`
    Sub = "sub", "-";
    /// `a·b`
    Mul = "mul", "*";
    /// `a / b`
    Div = "div", "/";
    /// `max(a, b)`; a tie routes the gradient to `a`.
    Max = "max", "max";
    /// `min(a, b)`; a tie routes the gradient to `a`.
    Min = "min", "min";
    /// `aᵇ`
    Pow = "pow", "^";
}

impl BinaryOp {
    /// `c = f(a, b)`.
    #[inline]
    pub fn f<T: Element>(self, a: T, b: T) -> T {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => {
                if a >= b {
                    a
                } else {
                    b
                }
            }
            BinaryOp::Min => {
                if a <= b {
                    a
                } else {
                    b
                }
            }
            BinaryOp::Pow => a.powf(b),
        }
    }

    /// `(∂c/∂a, ∂c/∂b)`. Max and min route the whole gradient to the winner (CS231n: "the max
    /// gate routes the gradient"), `a` on a tie.
    #[inline]
    pub fn df<T: Element>(self, a: T, b: T) -> (T, T) {
        let one = T::one();
        let zero = T::zero();
        match self {
            BinaryOp::Add => (one, one),
            BinaryOp::Sub => (one, -one),
            BinaryOp::Mul => (b, a),
            BinaryOp::Div => (one / b, -a / (b * b)),
            BinaryOp::Max => {
                if a >= b {
                    (one, zero)
                } else {
                    (zero, one)
                }
            }
            BinaryOp::Min => {
                if a <= b {
                    (one, zero)
                } else {
                    (zero, one)
                }
            }
            BinaryOp::Pow => (b * a.powf(b - one), a.powf(b) * a.ln()),
        }
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
    /// Every mode.
    pub const ALL: [Broadcast; 3] = [Broadcast::Scalar, Broadcast::Rows, Broadcast::Cols];

    /// The code that selects this mode in `shaders/reduce.wgsl`.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The mode's name, as the shader's constant is named (`SCALAR`, `ROWS`, `COLS`).
    pub fn name(self) -> &'static str {
        match self {
            Broadcast::Scalar => "scalar",
            Broadcast::Rows => "rows",
            Broadcast::Cols => "cols",
        }
    }
}

/// Which values share a normalisation's mean and variance: each row's (a layer norm over an
/// example's features) or each column's (a batch norm of a feature over the batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Axis {
    Rows,
    Columns,
}

impl Axis {
    /// The code that selects this axis in `shaders/reduce.wgsl` (its `AXIS` override).
    pub fn code(self) -> u32 {
        self as u32
    }

    /// `rows` or `columns`.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Rows => "rows",
            Axis::Columns => "columns",
        }
    }
}

/// What a matrix product applies to its result before storing it.
///
/// ```
/// use shadergrad::{op::Epilogue, UnaryOp};
/// assert_eq!(Epilogue::Activation(UnaryOp::Relu).name(), "+relu");
/// assert_eq!(Epilogue::ActivationGrad(UnaryOp::Tanh).name(), "·tanh'");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Epilogue {
    /// The product (plus the bias, when the kernel adds one) as it is.
    None,
    /// `f(op(a)·op(b) + bias)`: a linear layer and its activation, in one launch.
    Activation(UnaryOp),
    /// `op(a)·op(b) · f'(x, y)`: the gradient flowing into activation `f`, from the gradient of
    /// its output (the product) and its input `x` and output `y` (a hidden layer's `dX`).
    ActivationGrad(UnaryOp),
}

impl Epilogue {
    /// The activation it applies or differentiates.
    pub fn op(self) -> Option<UnaryOp> {
        match self {
            Epilogue::None => None,
            Epilogue::Activation(op) | Epilogue::ActivationGrad(op) => Some(op),
        }
    }

    /// A suffix for kernel names: ``, `+relu`, `·relu'`.
    pub fn name(self) -> String {
        match self {
            Epilogue::None => String::new(),
            Epilogue::Activation(op) => format!("+{}", op.name()),
            Epilogue::ActivationGrad(op) => format!("·{}'", op.name()),
        }
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

/// Written as its [`UnaryOp::spec`] (`"leaky_relu:0.2"`), read back with its `FromStr`.
impl serde::Serialize for UnaryOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.spec())
    }
}

impl<'de> serde::Deserialize<'de> for UnaryOp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_table_order_and_names_are_unique() {
        for (i, op) in UnaryOp::ALL.into_iter().enumerate() {
            assert_eq!(op.code() as usize, i, "{op:?}");
            assert_eq!(op.spec().parse::<UnaryOp>().unwrap(), op, "{op:?} parses back");
            assert_eq!(
                op.with_constant(0.25).spec().parse::<UnaryOp>().unwrap(),
                op.with_constant(0.25)
            );
        }
        for (i, op) in BinaryOp::ALL.into_iter().enumerate() {
            assert_eq!(op.code() as usize, i, "{op:?}");
        }
    }

    #[test]
    fn derivative_from_output_holds_exactly_where_claimed() {
        // The claim a fused linear layer relies on: df(x, f(x)) == df(f(x), f(x)).
        let extra = [UnaryOp::LeakyRelu(-0.5), UnaryOp::Elu(-1.0), UnaryOp::LeakyRelu(0.0)];
        for op in UnaryOp::ALL.into_iter().chain(extra) {
            let xs = (-40..=40).map(|i| i as f64 * 0.137).filter(|&x| x != 0.0);
            let holds = xs.clone().all(|x| {
                let y = op.f(x);
                let (a, b) = (op.df(x, y), op.df(y, y));
                (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(1.0)
            });
            if op.derivative_from_output() {
                assert!(holds, "{op:?} claims its derivative follows from its output");
            }
        }
        assert!(!UnaryOp::LeakyRelu(-0.5).derivative_from_output());
    }

    #[test]
    fn softplus_is_finite_and_accurate_far_out() {
        assert_eq!(UnaryOp::Softplus.f(1e4_f64), 1e4);
        assert!((UnaryOp::Softplus.f(-50.0_f64) - (-50.0_f64).exp()).abs() < 1e-30);
        assert!((UnaryOp::Softplus.f(0.0_f64) - 2f64.ln()).abs() < 1e-15);
        assert!((UnaryOp::Softplus.df(-30.0_f64, 0.0) - 9.357622968839299e-14).abs() < 1e-25);
    }

    #[test]
    fn parsing_names_and_constants() {
        assert_eq!("leaky_relu".parse::<UnaryOp>().unwrap(), UnaryOp::LeakyRelu(0.01));
        assert_eq!("leaky_relu:0.2".parse::<UnaryOp>().unwrap(), UnaryOp::LeakyRelu(0.2));
        let err = "relu:2".parse::<UnaryOp>().unwrap_err().to_string();
        assert!(err.contains("without a constant"), "{err}");
        let err = "swish".parse::<UnaryOp>().unwrap_err().to_string();
        assert!(err.contains("relu") && err.contains("softplus"), "{err}");
    }
}
