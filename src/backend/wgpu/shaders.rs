//! The WGSL sources, embedded here and nowhere else. Each file is prefixed with
//! `shaders/common.wgsl` (the `Params` uniform and small helpers), since WGSL has no includes.

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

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

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
            ShaderFile::Unary => include_str!("../../../shaders/unary.wgsl"),
            ShaderFile::Binary => include_str!("../../../shaders/binary.wgsl"),
            ShaderFile::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            ShaderFile::Bias => include_str!("../../../shaders/bias.wgsl"),
            ShaderFile::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            ShaderFile::Loss => include_str!("../../../shaders/loss.wgsl"),
            ShaderFile::Optim => include_str!("../../../shaders/optim.wgsl"),
            ShaderFile::Data => include_str!("../../../shaders/data.wgsl"),
            ShaderFile::Roof => include_str!("../../../shaders/roof.wgsl"),
        }
    }

    /// The complete source handed to the driver: `common.wgsl`, then the file.
    ///
    /// ```
    /// use shadergrad::backend::wgpu::ShaderFile;
    /// assert!(ShaderFile::Matmul.source().contains("fn matmul"));
    /// ```
    pub fn source(self) -> String {
        Self::with_common(self.body())
    }

    /// `shaders/common.wgsl` followed by `body`.
    pub fn with_common(body: &str) -> String {
        format!("{COMMON}\n{body}")
    }
}
