//! A model's inputs read from files, in the model's feature order and original units: a CSV
//! (columns matched by header name, in any order), NumPy arrays, or images of the model's size.
//! [`Model::predict`] takes what these return.

use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Result};
use crate::training::data::image::PixelStats;
use crate::training::data::{image, npy, table, Features};
use crate::training::model::Model;

impl Model {
    /// The features of every row of `path`: a `.csv` whose header names the model's features
    /// (in any order; other columns, targets included, are ignored and a missing one is an
    /// error naming it), an `.npy` of `[n, features]`, or an `.npz` holding `x`.
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// use shadergrad::backend::cpu::CpuBackend;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let rows = model.read_features("new_rows.csv".as_ref())?;
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &rows)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn read_features(&self, path: &Path) -> Result<Features> {
        let info = &self.info;
        let f = info.mlp.inputs();
        let name = path.display().to_string();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let read = || std::fs::read(path).map_err(|e| Error::io(path, e));
        let (values, shape) = match ext.as_str() {
            "csv" => {
                let t = table::read_table(&read()?, &name, Some(&info.inputs))?;
                (t.values, vec![t.rows, info.inputs.len()])
            }
            "npy" => {
                let x = npy::parse(&read()?, &name)?;
                (x.values, x.shape)
            }
            "npz" => {
                let (x, _) = npy::parse_npz(&read()?, &name)?;
                (x.values, x.shape)
            }
            _ => return Err(Error::bad_file(path, "is not a .csv, .npy or .npz file of features")),
        };
        let n = shape.first().copied().unwrap_or(0);
        if n == 0 || values.len() != n * f {
            return Err(Error::bad_file(
                path,
                format!("holds features of shape {shape:?}, not [n, {f}] as the model takes"),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::bad_file(
                path,
                format!("feature `{}` of row {} is {}", info.inputs[i % f], i / f + 1, values[i]),
            ));
        }
        Ok(Features::Floats(values.iter().map(|&v| v as f32).collect()))
    }

    /// The pixels of `paths` (PNG or PGM; colour is averaged to gray), for a model trained on
    /// images: each must be of the model's size, else the error names both sizes.
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// use shadergrad::backend::cpu::CpuBackend;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let digits = model.read_images(&["seven.png".into()])?;
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &digits)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn read_images(&self, paths: &[PathBuf]) -> Result<Features> {
        let info = &self.info;
        let f = info.mlp.inputs();
        let Some([rows, cols]) = info.image else {
            return Err(Error::invalid(
                "images",
                paths.first().map(|p| p.display().to_string()).unwrap_or_default(),
                format!("rows of the model's {f} features (it was not trained on images)"),
            ));
        };
        let mut bytes = Vec::with_capacity(paths.len() * f);
        for path in paths {
            let img = image::load(path)?;
            if (img.height, img.width) != (rows, cols) {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "is {}×{} pixels (width × height) but the model takes {cols}×{rows} images",
                        img.width, img.height
                    ),
                ));
            }
            bytes.extend(img.pixels);
        }
        Ok(Features::Bytes {
            values: bytes,
            scale: info.byte_scale.unwrap_or(1.0),
        })
    }

    /// The images among `images` (as [`Model::read_images`] reads them) that look unlike the
    /// model's training images, by position, each with why (see [`PixelStats::unlike`]); none
    /// when the model records no statistics of its training images.
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let images = model.read_images(&["inverted.png".into()])?;
    /// for (i, why) in model.unlike_training(&images) {
    ///     eprintln!("image {i} is unlike the training images: {why}");
    /// }
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn unlike_training(&self, images: &Features) -> Vec<(usize, String)> {
        let (Some(trained), Some(size), Features::Bytes { values, .. }) = (self.info.pixels, self.info.image, images)
        else {
            return Vec::new();
        };
        let pixels = size[0] * size[1];
        values
            .chunks_exact(pixels.max(1))
            .enumerate()
            .filter_map(|(i, image)| Some((i, trained.unlike(&PixelStats::of(image, size)?)?)))
            .collect()
    }
}
