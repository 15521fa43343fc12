//! Example weights: each example's loss counting by its weight in a training step (the weighted
//! mean `Σ wᵢ·lᵢ / Σ wᵢ`), given one by one ([`Dataset::with_weights`], scikit-learn's
//! `sample_weight`) or by class ([`ClassWeight`], its `class_weight`).

use std::fmt;
use std::str::FromStr;

use crate::engine::error::{Error, Result};

use super::dataset::{format_label, Dataset, Targets};

/// How the classes of a classification weigh in its loss.
///
/// ```
/// use shadergrad::data::ClassWeight;
/// assert_eq!("balanced".parse::<ClassWeight>()?, ClassWeight::Balanced);
/// let given: ClassWeight = "Adelie=2, Gentoo=0.5".parse()?;
/// assert_eq!(given.to_string(), "Adelie=2,Gentoo=0.5");
/// assert!("Adelie=-1".parse::<ClassWeight>().is_err());
/// # Ok::<(), shadergrad::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// scikit-learn's `"balanced"`: class `c` weighs `n / (classes · count(c))` over the `n`
    /// examples weighed, so that every class counts as much as any other in the loss.
    Balanced,
    /// By class, as written in the data (`Adelie=2,Gentoo=1`); a class not named weighs 1.
    Given(Vec<(String, f64)>),
}

impl FromStr for ClassWeight {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "balanced" {
            return Ok(ClassWeight::Balanced);
        }
        let expected = "`balanced`, or weights by class as `CLASS=WEIGHT,...` (each a number ≥ 0)";
        let mut given = Vec::new();
        for part in s.split(',') {
            let bad = || Error::invalid("class weight", part.trim(), expected);
            let (class, weight) = part.rsplit_once('=').ok_or_else(bad)?;
            let (class, weight) = (class.trim(), weight.trim());
            let weight: f64 = weight.parse().map_err(|_| bad())?;
            if class.is_empty() || !weight.is_finite() || weight < 0.0 {
                return Err(bad());
            }
            if given.iter().any(|(c, _)| c == class) {
                return Err(Error::invalid(
                    "class weight",
                    s,
                    format!("each class once (`{class}` is named twice)"),
                ));
            }
            given.push((class.to_string(), weight));
        }
        Ok(ClassWeight::Given(given))
    }
}

impl fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassWeight::Balanced => f.write_str("balanced"),
            ClassWeight::Given(given) => {
                let parts: Vec<String> = given.iter().map(|(c, w)| format!("{c}={}", format_label(*w))).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

impl ClassWeight {
    /// Each class's weight in `targets` (classes in their order), or an error naming a class the
    /// targets do not have, or saying that these are not classes.
    pub fn of(&self, targets: &Targets) -> Result<Vec<f64>> {
        let Targets::Classes { ids, labels, names } = targets else {
            return Err(Error::invalid(
                "class weight",
                self.to_string(),
                "classes to weigh: class weights are for classify",
            ));
        };
        let written: Vec<String> = (0..labels.len())
            .map(|c| Targets::class_name(labels, names, c))
            .collect();
        match self {
            ClassWeight::Balanced => {
                let mut counts = vec![0usize; labels.len()];
                for &id in ids {
                    counts[id as usize] += 1;
                }
                let (n, k) = (ids.len() as f64, labels.len() as f64);
                // A class with no example here weighs nothing anyone reads: 1.
                Ok(counts
                    .iter()
                    .map(|&c| if c == 0 { 1.0 } else { n / (k * c as f64) })
                    .collect())
            }
            ClassWeight::Given(given) => {
                let mut weights = vec![1.0; labels.len()];
                for (class, w) in given {
                    let c = written.iter().position(|n| n == class).ok_or_else(|| {
                        Error::invalid(
                            "class weight",
                            format!("{class}={w}"),
                            format!("a class of the data ({})", written.join(", ")),
                        )
                    })?;
                    weights[c] = *w;
                }
                Ok(weights)
            }
        }
    }
}

impl Dataset {
    /// This data set with each example's loss weighted by `weights` (one per example, each
    /// finite and ≥ 0, not all 0): a training step's loss is then `Σ wᵢ·lᵢ / Σ wᵢ` over its
    /// batch, as PyTorch's weighted losses with `reduction="mean"` and scikit-learn's
    /// `sample_weight`. Evaluation's metrics stay unweighted.
    ///
    /// ```
    /// use shadergrad::data::{table::{parse_csv, Columns}, Task};
    /// let columns = Columns { targets: vec!["y".into()], ..Columns::default() };
    /// let data = parse_csv(b"x,y\n1,0\n2,1\n3,1\n", "t.csv", &columns, Task::Classify)?;
    /// let weighted = data.with_weights(vec![2.0, 1.0, 1.0])?;
    /// assert_eq!(weighted.weights.as_deref(), Some(&[2.0, 1.0, 1.0][..]));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn with_weights(mut self, weights: Vec<f32>) -> Result<Dataset> {
        self.weights = Some(checked(weights, self.len())?);
        Ok(self)
    }

    /// Weighs each example by its class's weight under `by` (times any weight it has already),
    /// balanced over this data set's own classes; returns each class's weight, in class order.
    ///
    /// ```
    /// use shadergrad::data::{table::{parse_csv, Columns}, ClassWeight, Task};
    /// let columns = Columns { targets: vec!["y".into()], ..Columns::default() };
    /// let mut data = parse_csv(b"x,y\n1,a\n2,b\n3,b\n4,b\n", "t.csv", &columns, Task::Classify)?;
    /// let by_class = data.weigh_classes(&ClassWeight::Balanced)?;
    /// assert_eq!(by_class, [2.0, 2.0 / 3.0]); // 4 / (2 · 1) and 4 / (2 · 3)
    /// assert_eq!(data.weights.as_deref(), Some(&[2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0][..]));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn weigh_classes(&mut self, by: &ClassWeight) -> Result<Vec<f64>> {
        let by_class = by.of(&self.targets)?;
        let Targets::Classes { ids, .. } = &self.targets else {
            unreachable!("ClassWeight::of refuses other targets")
        };
        let mut weights = self.weights.take().unwrap_or_else(|| vec![1.0; ids.len()]);
        for (w, &id) in weights.iter_mut().zip(ids) {
            *w *= by_class[id as usize] as f32;
        }
        self.weights = Some(checked(weights, ids.len())?);
        Ok(by_class)
    }
}

/// `weights` when they are one for each of `examples`, each finite and ≥ 0, not all 0; else
/// the error saying which is not.
fn checked(weights: Vec<f32>, examples: usize) -> Result<Vec<f32>> {
    if weights.len() != examples {
        return Err(Error::Length {
            what: "example weights (one for each example)".into(),
            expected: examples,
            got: weights.len(),
        });
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        return Err(Error::invalid(
            format!("the weight of example {i}"),
            weights[i].to_string(),
            "a finite number ≥ 0",
        ));
    }
    if !weights.iter().any(|&w| w > 0.0) {
        return Err(Error::invalid(
            "example weights",
            "all 0",
            "at least one example that counts (a weight above 0)",
        ));
    }
    Ok(weights)
}
