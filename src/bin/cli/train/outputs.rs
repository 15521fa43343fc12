//! Where a run writes: its model file (with the `.resume` file beside it) and its training-curve
//! picture. Nothing a user saved is replaced unasked: a resumed run writes back into the file it
//! continues, a named `--out` or `--plot` is written as named, and a run that names neither takes
//! `model.safetensors`, or the first of `model-2.safetensors`, `model-3.safetensors`, ... whose
//! files do not exist yet. The picture is named after the model (`model.svg`, `model-2.svg`) unless
//! `--plot` names it.

use std::path::{Path, PathBuf};

use shadergrad::checkpoint::resume_path;
use shadergrad::{Error, Result};

/// The model file a run writes when no flag names one, before any is taken.
const DEFAULT_MODEL: &str = "model.safetensors";

/// How many numbered names (`model-2` ... ) a run tries before asking for `--out`.
const MOST_NUMBERED: u32 = 999;

/// The files a run writes.
#[derive(Debug, PartialEq)]
pub struct Outputs {
    pub model: PathBuf,
    pub plot: PathBuf,
    /// Said before training when the default name was taken and another was chosen.
    pub note: Option<String>,
}

impl Outputs {
    /// The files for `--out`, `--plot` and `--resume` as given.
    pub fn choose(out: Option<&Path>, plot: Option<&Path>, resume: Option<&Path>) -> Result<Outputs> {
        let (model, note) = match (out, resume) {
            (Some(out), _) => (out.to_path_buf(), None),
            (None, Some(resumed)) => (resumed.to_path_buf(), None),
            (None, None) => free_default(plot.is_none())?,
        };
        let plot = plot.map_or_else(|| picture_of(&model), Path::to_path_buf);
        let resume_file = resume_path(&model);
        if plot == model || plot == resume_file {
            return Err(Error::invalid(
                "--plot",
                plot.display().to_string(),
                format!(
                    "a file other than the model and its resume file ({} and {})",
                    model.display(),
                    resume_file.display()
                ),
            ));
        }
        Ok(Outputs { model, plot, note })
    }
}

/// The training-curve picture named after a model: `runs/long.safetensors` → `runs/long.svg`.
fn picture_of(model: &Path) -> PathBuf {
    model.with_extension("svg")
}

/// Whether anything, even a dangling link, is at `path`.
fn taken(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// `model.safetensors`, or the first numbered name none of whose files (the model, its resume
/// file and, when `with_plot`, its picture) exists yet, with a note saying why.
fn free_default(with_plot: bool) -> Result<(PathBuf, Option<String>)> {
    let first = PathBuf::from(DEFAULT_MODEL);
    let free = |model: &Path| !(taken(model) || taken(&resume_path(model)) || with_plot && taken(&picture_of(model)));
    if free(&first) {
        return Ok((first, None));
    }
    let numbered = (2..=MOST_NUMBERED).map(|n| PathBuf::from(format!("model-{n}.safetensors")));
    for model in numbered {
        if free(&model) {
            let note = format!(
                "note: {} holds another run, so this one is saved as {} (--out names the file)",
                first.display(),
                model.display()
            );
            return Ok((model, Some(note)));
        }
    }
    Err(Error::required(
        "--out",
        format!("here: {DEFAULT_MODEL} and model-2 to model-{MOST_NUMBERED} are all taken"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_files_are_kept_and_the_picture_follows_the_model() {
        let o = Outputs::choose(Some(Path::new("runs/long.safetensors")), None, None).unwrap();
        assert_eq!(o.model, Path::new("runs/long.safetensors"));
        assert_eq!(o.plot, Path::new("runs/long.svg"));
        let o = Outputs::choose(None, Some(Path::new("c.png")), Some(Path::new("old.safetensors"))).unwrap();
        assert_eq!(
            (o.model.as_path(), o.plot.as_path()),
            (Path::new("old.safetensors"), Path::new("c.png"))
        );
        let e = Outputs::choose(Some(Path::new("m.svg")), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--plot") && e.contains("m.svg"), "{e}");
    }
}
