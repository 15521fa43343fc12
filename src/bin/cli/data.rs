//! The data flags every command shares, and what they name: a [`Source`].

use std::path::{Path, PathBuf};

use shadergrad::data::{table::Columns, Digits, Source, Task};
use shadergrad::{Error, Result};

/// Where data comes from: `--data` (a CSV, an `.npy` with `--targets`, an `.npz`, or a directory
/// of IDX files), or `--images` with `--labels`, or the bundled digits.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DataArgs {
    /// A CSV table, a NumPy .npy of features (with --targets) or .npz (arrays x and y), or a
    /// directory holding <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz]
    /// (each command says its default).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// An IDX images file (with --labels).
    #[arg(long, requires = "labels")]
    images: Option<PathBuf>,
    /// An IDX labels file (with --images).
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
    /// The targets .npy of the features .npy given with --data.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// A CSV column to predict; repeat it, or separate names with commas, for several.
    #[arg(long = "target", value_delimiter = ',')]
    pub target: Vec<String>,
    /// The CSV columns to use as features, in order [default: every column that is neither a
    /// target nor dropped].
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// CSV columns to leave out of the features.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// CSV columns of numbers to treat as categories (an integer column is a number unless named
    /// here: a count is never guessed to be a category).
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// The cells of a CSV that mean "missing", besides empty ones [default: NA,N/A,NaN,null,None,?
    /// (any case)]; a model records them, and reads new tables with them.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    na: Option<Vec<String>>,
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

impl DataArgs {
    /// The source the flags name (`prefer` choosing among several IDX sets in a directory:
    /// `train` for training, `t10k` for evaluation); None when none was named. `targets` are
    /// the CSV target columns when `--target` gives none (a model's own).
    pub fn source(&self, prefer: &str, targets: &[String]) -> Result<Option<Source>> {
        let csv_flags = !self.target.is_empty()
            || self.features.is_some()
            || !self.drop.is_empty()
            || !self.categorical.is_empty()
            || self.na.is_some();
        if let (Some(images), Some(labels)) = (&self.images, &self.labels) {
            return Ok(Some(Source::Idx {
                images: images.clone(),
                labels: labels.clone(),
            }));
        }
        let Some(path) = &self.data else {
            return Ok(None);
        };
        let not_with = |flag: &str, what: &str| {
            Error::invalid(
                flag,
                path.display().to_string(),
                format!("{what} (it goes with --data)"),
            )
        };
        if path.is_dir() {
            if csv_flags || self.targets.is_some() {
                return Err(not_with(
                    "--target/--features/--drop/--categorical/--na/--targets",
                    "a CSV or NumPy file",
                ));
            }
            let (images, labels) = Digits::find(path, prefer)?;
            return Ok(Some(Source::Idx { images, labels }));
        }
        match extension(path).as_str() {
            "csv" => {
                if self.targets.is_some() {
                    return Err(not_with("--targets", "a NumPy .npy file, not a CSV"));
                }
                let target = if self.target.is_empty() {
                    targets.to_vec()
                } else {
                    self.target.clone()
                };
                if target.is_empty() {
                    return Err(Error::required(
                        "--target",
                        format!("with a CSV: the column(s) of {} to predict", path.display()),
                    ));
                }
                Ok(Some(Source::Csv {
                    path: path.clone(),
                    columns: Columns {
                        targets: target,
                        features: self.features.clone(),
                        drop: self.drop.clone(),
                        categorical: self.categorical.clone(),
                        na: self.na.clone(),
                    },
                }))
            }
            "npy" | "npz" => {
                if csv_flags {
                    return Err(not_with(
                        "--target/--features/--drop/--categorical/--na",
                        "a CSV file, not NumPy arrays",
                    ));
                }
                if extension(path) == "npy" && self.targets.is_none() {
                    return Err(Error::required(
                        "--targets",
                        format!("with a .npy of features: the .npy of targets for {}", path.display()),
                    ));
                }
                Ok(Some(Source::Npy {
                    data: path.clone(),
                    targets: self.targets.clone(),
                }))
            }
            _ => Err(Error::invalid(
                "--data",
                path.display().to_string(),
                "a .csv, .npy or .npz file, or a directory of IDX files",
            )),
        }
    }
}

/// `--task`: `classify`, `regress` or `multilabel`; with none, classification for digits, and
/// for a table or arrays an error that asks for it (an integer target can be a class or a
/// count: the user says which).
pub fn task(flag: Option<&str>, source: &Source) -> Result<Task> {
    match flag {
        Some("classify") => Ok(Task::Classify),
        Some("regress") => Ok(Task::Regress),
        Some("multilabel") => Ok(Task::Multilabel),
        Some(other) => Err(Error::invalid("--task", other, "classify, regress or multilabel")),
        None if source.is_table() => Err(Error::required(
            "--task",
            format!(
                "for a table or arrays: classify, regress or multilabel, to say what the targets of {} are \
                 (an integer column can be a class or a count, so shadergrad never guesses)",
                source.describe()
            ),
        )),
        None => Ok(Task::Classify),
    }
}
