//! Data sets: a feature matrix (`[n, features]`) and its targets (class ids, values to regress,
//! or 0/1 labels), from any of the loaders: IDX digits ([`idx`]), CSV tables ([`table`]), NumPy
//! arrays ([`npy`]); and images to predict on ([`image`]). Features that are bytes (pixels)
//! stay bytes and cross to the device as bytes; numbers cross as f32, standardised by a
//! [`Scaling`] fitted on the training split and recorded with the model.

mod augment;
mod dataset;
pub mod idx;
pub mod image;
pub mod npy;
mod source;
pub mod table;
mod weights;

pub(crate) use dataset::Batch;
pub use dataset::{
    default_validation, format_label, split_rows, Dataset, Features, Scaling, Standardizer, Targets, Task,
};
pub use idx::{epoch_order, Digits};
pub use source::Source;
pub use weights::ClassWeight;
