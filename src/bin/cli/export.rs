//! `shadergrad export`: a saved model as an ONNX file that takes raw columns (or pixels) and
//! gives final answers (see the crate's `onnx` module).

use std::path::PathBuf;

use shadergrad::model::Model;
use shadergrad::Result;

use crate::cli::flags;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The model (safetensors).
    #[arg(long)]
    model: PathBuf,
    /// The ONNX file to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

pub fn export(a: &ExportArgs) -> Result<()> {
    flags::output_path(&a.out, "--out")?;
    let model = Model::load(&a.model)?;
    shadergrad::io::write_atomic(&a.out, &model.to_onnx()?)?;
    let inputs = match &model.info.schema {
        Some(schema) => format!("{} columns", schema.features.len()),
        None if model.info.byte_scale.is_some() => "pixels (0-255)".to_string(),
        None => format!("{} features", model.info.mlp.inputs()),
    };
    eprintln!(
        "wrote {}: {} ({}) from {inputs}",
        a.out.display(),
        model.info.mlp.describe(),
        model.info.task.name()
    );
    Ok(())
}
