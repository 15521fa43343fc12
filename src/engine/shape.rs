//! Tensor shapes: row-major, rank 0 (a scalar), 1 (a vector) or 2 (a matrix).

use std::fmt;

/// The shape of a tensor. Row-major; `[]` is a scalar holding one value.
///
/// ```
/// use shadergrad::Shape;
/// let s = Shape::from([32, 784]);
/// assert_eq!(s.len(), 32 * 784);
/// assert_eq!(s.to_string(), "[32, 784]");
/// assert_eq!(Shape::scalar().len(), 1);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// The shape of a single value.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of values (1 for a scalar).
    pub fn len(&self) -> usize {
        self.0.iter().product()
    }

    /// True when the tensor holds no values (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(rows, cols)` of a matrix; a vector is one row, a scalar is 1×1.
    pub fn as_matrix(&self) -> (usize, usize) {
        match self.0.as_slice() {
            [] => (1, 1),
            [n] => (1, *n),
            [r, c] => (*r, *c),
            _ => (self.0[0], self.0[1..].iter().product()),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}
