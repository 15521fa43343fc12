//! Digits in MNIST's IDX format: a reader that checks magic numbers, dimensions and lengths
//! (raw or gzip) before trusting a header, the 8,000 bundled digits, and a seeded shuffling
//! minibatch order.
//!
//! Pixels stay bytes on the host and are scaled to `pixel / 255` (and nothing else) on the
//! device, so another framework can reproduce a batch exactly, and the full 60,000-digit set
//! never needs one huge device buffer.

use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use super::{Dataset, Features, Scaling, Targets};
use crate::engine::error::{Error, Result};
use crate::training::rng::Rng;

const BUNDLED_IMAGES: &[u8] = include_bytes!("../../../data/mnist8k-images-idx3-ubyte.gz");
const BUNDLED_LABELS: &[u8] = include_bytes!("../../../data/mnist8k-labels-idx1-ubyte.gz");

/// Images (bytes, row-major, `rows × cols` each) and their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

/// An IDX file's dimensions and its body (u8 data).
fn read_idx(source: &mut dyn Read, path: &Path, ndim: u8, raw_len: Option<u64>) -> Result<(Vec<usize>, Vec<u8>)> {
    let bad = |why: String| Error::bad_file(path, why);
    let mut magic = [0u8; 4];
    source
        .read_exact(&mut magic)
        .map_err(|_| bad("too short for an IDX header".into()))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: the magic number starts {:02x} {:02x}, not 00 00",
            magic[0], magic[1]
        )));
    }
    if magic[2] != 0x08 {
        return Err(bad(format!(
            "element type 0x{:02x} is not unsigned bytes (0x08)",
            magic[2]
        )));
    }
    if magic[3] != ndim {
        let what = if ndim == 3 { "images (idx3)" } else { "labels (idx1)" };
        return Err(bad(format!("has {} dimensions where {what} have {ndim}", magic[3])));
    }
    let mut dims = Vec::new();
    for _ in 0..ndim {
        let mut d = [0u8; 4];
        source
            .read_exact(&mut d)
            .map_err(|_| bad("the header ends inside its dimensions".into()))?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= 1 << 40)
        .ok_or_else(|| bad(format!("dimensions {dims:?} are absurdly large")))?;
    let header = 4 + 4 * ndim as u64;
    // Raw files: compare the header's claim with the file's length before reading anything.
    if let Some(len) = raw_len {
        if len != header + expected {
            return Err(bad(format!(
                "the header claims {dims:?} = {expected} bytes of data but the file holds {}",
                len.saturating_sub(header)
            )));
        }
    }
    // Grow the buffer with the data actually read, never to the header's claim up front.
    let mut body = Vec::new();
    source
        .take(expected + 1)
        .read_to_end(&mut body)
        .map_err(|e| bad(format!("cannot read the data: {e}")))?;
    if (body.len() as u64) < expected {
        return Err(bad(format!(
            "truncated: the header claims {dims:?} = {expected} bytes of data, the file holds {}",
            body.len()
        )));
    }
    if body.len() as u64 > expected {
        return Err(bad(format!(
            "the file holds more data than its header claims ({dims:?})"
        )));
    }
    Ok((dims, body))
}

/// Opens `bytes` (gzip when they start with its magic) and reads one IDX file.
fn parse_idx(bytes: &[u8], path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_idx(&mut flate2::read::GzDecoder::new(bytes), path, ndim, None)
    } else {
        read_idx(&mut &bytes[..], path, ndim, Some(bytes.len() as u64))
    }
}

fn open_idx(path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 2];
    let n = file.read(&mut head).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    // Back to the start: the magic bytes were only peeked at.
    file.seek(std::io::SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    if n == 2 && head == [0x1f, 0x8b] {
        read_idx(&mut flate2::read::GzDecoder::new(file), path, ndim, None)
    } else {
        read_idx(&mut std::io::BufReader::new(file), path, ndim, Some(len))
    }
}

impl Digits {
    /// Reads an images file and a labels file (each raw or gzip).
    pub fn load(images: &Path, labels: &Path) -> Result<Self> {
        let (idims, ibody) = open_idx(images, 3)?;
        let (ldims, lbody) = open_idx(labels, 1)?;
        Self::assemble(idims, ibody, images, ldims, lbody, labels)
    }

    /// Parses images and labels already in memory (each raw or gzip); the names are for errors.
    pub fn from_bytes(images: &[u8], labels: &[u8], images_name: &str, labels_name: &str) -> Result<Self> {
        let (ip, lp) = (Path::new(images_name), Path::new(labels_name));
        let (idims, ibody) = parse_idx(images, ip, 3)?;
        let (ldims, lbody) = parse_idx(labels, lp, 1)?;
        Self::assemble(idims, ibody, ip, ldims, lbody, lp)
    }

    fn assemble(
        idims: Vec<usize>,
        images: Vec<u8>,
        ipath: &Path,
        ldims: Vec<usize>,
        labels: Vec<u8>,
        lpath: &Path,
    ) -> Result<Self> {
        if idims[0] != ldims[0] {
            return Err(Error::bad_file(
                ipath,
                format!(
                    "holds {} images but {} holds {} labels",
                    idims[0],
                    lpath.display(),
                    ldims[0]
                ),
            ));
        }
        Ok(Digits {
            images,
            labels,
            rows: idims[1],
            cols: idims[2],
        })
    }

    /// The 8,000 MNIST digits shipped inside the crate.
    ///
    /// ```
    /// let d = shadergrad::data::Digits::bundled()?;
    /// assert_eq!((d.len(), d.rows, d.cols), (8000, 28, 28));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn bundled() -> Result<Self> {
        Self::from_bytes(
            BUNDLED_IMAGES,
            BUNDLED_LABELS,
            "bundled mnist8k-images",
            "bundled mnist8k-labels",
        )
    }

    /// Finds an IDX pair in `dir` by MNIST's naming, `<prefix>-images-idx3-ubyte[.gz]` beside
    /// `<prefix>-labels-idx1-ubyte[.gz]`. With several prefixes, `prefer` picks one (`train`
    /// for training, `t10k` for evaluation); otherwise the choice must be made explicit.
    pub fn find(dir: &Path, prefer: &str) -> Result<(PathBuf, PathBuf)> {
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut pairs = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(prefix) = name
                .strip_suffix("-images-idx3-ubyte.gz")
                .or_else(|| name.strip_suffix("-images-idx3-ubyte"))
            else {
                continue;
            };
            let labels = ["-labels-idx1-ubyte.gz", "-labels-idx1-ubyte"]
                .iter()
                .map(|s| dir.join(format!("{prefix}{s}")))
                .find(|p| p.exists());
            match labels {
                Some(l) => pairs.push((prefix.to_string(), entry.path(), l)),
                None => {
                    return Err(Error::bad_file(
                        entry.path(),
                        format!("has no labels file beside it ({prefix}-labels-idx1-ubyte[.gz])"),
                    ))
                }
            }
        }
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        match pairs.len() {
            0 => Err(Error::bad_file(
                dir,
                "holds no <prefix>-images-idx3-ubyte[.gz] file; name the files with --images and --labels",
            )),
            1 => Ok((pairs[0].1.clone(), pairs[0].2.clone())),
            _ => match pairs.iter().find(|p| p.0 == prefer) {
                Some(p) => Ok((p.1.clone(), p.2.clone())),
                None => Err(Error::bad_file(
                    dir,
                    format!(
                        "holds several datasets ({}); name one with --images and --labels",
                        pairs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )),
            },
        }
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`rows × cols`).
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }

    /// Checks every label is one of `classes`.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        match self.labels.iter().position(|&l| l as usize >= classes) {
            Some(index) => Err(Error::LabelOutOfRange {
                label: self.labels[index] as usize,
                index,
                classes,
            }),
            None => Ok(()),
        }
    }

    /// The digits as a data set: 28×28 (or whatever size) byte images scaled by 1/255,
    /// classes 0..9.
    pub fn into_dataset(self) -> Dataset {
        let (rows, cols) = (self.rows, self.cols);
        let classes = self
            .labels
            .iter()
            .copied()
            .max()
            .map_or(10, |m| (m as usize + 1).max(10));
        Dataset {
            feature_count: rows * cols,
            feature_names: (0..rows * cols).map(|i| format!("pixel{i}")).collect(),
            features: Features::Bytes {
                values: self.images,
                scale: PIXEL_SCALE,
            },
            targets: Targets::Classes {
                ids: self.labels.iter().map(|&l| l as u32).collect(),
                labels: (0..classes).map(|c| c as f64).collect(),
                names: Vec::new(),
            },
            target_names: vec!["label".into()],
            image: Some([rows, cols]),
            scaling: Scaling::default(),
            schema: None,
            weights: None,
        }
    }
}

/// The scale from a pixel byte to the network's input: `[0, 255]` to `[0, 1]`.
pub const PIXEL_SCALE: f64 = 1.0 / 255.0;

/// The order of one epoch: a seeded shuffle of `0..n`, a function of `(seed, epoch)` alone, so
/// an interrupted run can resume mid-epoch exactly.
///
/// ```
/// let a = shadergrad::data::epoch_order(10, 1, 3);
/// assert_eq!(a, shadergrad::data::epoch_order(10, 1, 3));
/// assert_ne!(a, shadergrad::data::epoch_order(10, 1, 4));
/// ```
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch)).shuffle(&mut order);
    order
}

impl Dataset {
    /// The 8,000 MNIST digits shipped inside the crate, as a data set.
    pub fn bundled_digits() -> Result<Dataset> {
        Ok(Digits::bundled()?.into_dataset())
    }
}
