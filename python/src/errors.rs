//! The crate's errors as Python exceptions, with the crate's message: `ValueError` for what the
//! caller gave (data, shapes, parameters, files), `RuntimeError` for the device.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;
use shadergrad::Error;

/// `e` as the Python exception a user expects for it.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::NoAdapter { .. }
        | Error::Gpu { .. }
        | Error::DeviceLost { .. }
        | Error::Unsupported { .. }
        | Error::TooLarge { .. }
        | Error::Io { .. } => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}
