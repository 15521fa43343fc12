//! The WGSL sources, embedded here and nowhere else. WGSL has no includes, so each file is handed
//! to the driver after its prelude: `shaders/common.wgsl` (the `Params` uniform and small
//! helpers), the op codes its switches select by, generated here from the tables of
//! `src/engine/op.rs` (`const RELU: u32 = 2u;`), and for the files that apply unary ops,
//! `shaders/unary_math.wgsl`.

use crate::engine::op::{BinaryOp, Broadcast, UnaryOp};

/// One WGSL file of `shaders/`: an op family, forward and backward entry points side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShaderFile {
    Unary,
    Binary,
    Matmul,
    Bias,
    Reduce,
    Loss,
    Optim,
    Data,
    Roof,
}

const COMMON: &str = include_str!("../../../../shaders/common.wgsl");
const UNARY_MATH: &str = include_str!("../../../../shaders/unary_math.wgsl");

impl ShaderFile {
    /// Every shader file.
    pub const ALL: [ShaderFile; 9] = [
        ShaderFile::Unary,
        ShaderFile::Binary,
        ShaderFile::Matmul,
        ShaderFile::Bias,
        ShaderFile::Reduce,
        ShaderFile::Loss,
        ShaderFile::Optim,
        ShaderFile::Data,
        ShaderFile::Roof,
    ];

    /// The file's name under `shaders/`.
    pub fn file_name(self) -> &'static str {
        match self {
            ShaderFile::Unary => "unary.wgsl",
            ShaderFile::Binary => "binary.wgsl",
            ShaderFile::Matmul => "matmul.wgsl",
            ShaderFile::Bias => "bias.wgsl",
            ShaderFile::Reduce => "reduce.wgsl",
            ShaderFile::Loss => "loss.wgsl",
            ShaderFile::Optim => "optim.wgsl",
            ShaderFile::Data => "data.wgsl",
            ShaderFile::Roof => "roof.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            ShaderFile::Unary => include_str!("../../../../shaders/unary.wgsl"),
            ShaderFile::Binary => include_str!("../../../../shaders/binary.wgsl"),
            ShaderFile::Matmul => include_str!("../../../../shaders/matmul.wgsl"),
            ShaderFile::Bias => include_str!("../../../../shaders/bias.wgsl"),
            ShaderFile::Reduce => include_str!("../../../../shaders/reduce.wgsl"),
            ShaderFile::Loss => include_str!("../../../../shaders/loss.wgsl"),
            ShaderFile::Optim => include_str!("../../../../shaders/optim.wgsl"),
            ShaderFile::Data => include_str!("../../../../shaders/data.wgsl"),
            ShaderFile::Roof => include_str!("../../../../shaders/roof.wgsl"),
        }
    }

    /// The complete source handed to the driver: the prelude, then the file.
    ///
    /// ```
    /// use shadergrad::backend::wgpu::ShaderFile;
    /// let source = ShaderFile::Unary.source();
    /// assert!(source.contains("const RELU: u32 = 2u;") && source.contains("fn unary_forward"));
    /// ```
    pub fn source(self) -> String {
        match self {
            ShaderFile::Unary | ShaderFile::Matmul => Self::with_unary_math(self.body()),
            ShaderFile::Binary => {
                let codes = op_codes(BinaryOp::ALL.map(|op| (op.name(), op.code())));
                format!("{COMMON}\n{codes}\n{}", self.body())
            }
            ShaderFile::Reduce => {
                let codes = op_codes(Broadcast::ALL.map(|m| (m.name(), m.code())));
                format!("{COMMON}\n{codes}\n{}", self.body())
            }
            _ => format!("{COMMON}\n{}", self.body()),
        }
    }

    /// `body` after the prelude of the files that apply unary ops: `common.wgsl`, the unary op
    /// codes and `unary_math.wgsl`.
    pub fn with_unary_math(body: &str) -> String {
        let codes = op_codes(UnaryOp::ALL.map(|op| (op.name(), op.code())));
        format!("{COMMON}\n{codes}\n{UNARY_MATH}\n{body}")
    }

    /// `body` after `common.wgsl`, with `directives` (`enable f16;`, which WGSL wants before
    /// any declaration) ahead of both.
    pub fn with_common(directives: &str, body: &str) -> String {
        format!("{directives}{COMMON}\n{body}")
    }
}

/// `const NAME: u32 = code;` for each `(name, code)` of an op table.
fn op_codes<const N: usize>(ops: [(&str, u32); N]) -> String {
    let mut s = String::from("// Op codes, generated from src/engine/op.rs.\n");
    for (name, code) in ops {
        s.push_str(&format!("const {}: u32 = {code}u;\n", name.to_uppercase()));
    }
    s
}
