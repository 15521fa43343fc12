//! A CSV as a data set: read, its columns inferred, its targets taken (rows without one left
//! out), split, and its features made by a preprocessing fitted on the training split; and the
//! notes that tell a user what was left out.

use std::path::Path;
use std::sync::Arc;

use crate::engine::error::{Error, Result};
use crate::training::data::dataset::{default_validation, split_rows, Dataset, Features, Scaling, Targets, Task};

use super::column::Markers;
use super::infer::{infer, left_out_notes, mixed_notes, ColumnInfo, Columns, Role};
use super::read::{read_csv, RawTable};
use super::schema::{Schema, Unseen};
use super::targets::targets;

/// Reads the CSV file at `path`, cells `na` names (or the default markers) counted missing.
pub fn read_file(path: &Path, na: Option<&[String]>) -> Result<RawTable> {
    let bytes = crate::training::io::read_whole(path)?;
    read_csv(&bytes, &path.display().to_string(), &Markers::new(na))
}

/// The rows of `table` whose features `schema` makes, with their `targets`: a data set (features
/// in original units; the scaling is applied by the caller), and the unseen categories met.
pub fn encoded(
    table: &RawTable,
    schema: &Arc<Schema>,
    rows: &[usize],
    targets: Targets,
    target_names: &[String],
) -> Result<(Dataset, Unseen)> {
    let (values, unseen) = schema.encode(table, rows)?;
    let data = Dataset {
        features: Features::Floats(values),
        feature_count: schema.width(),
        feature_names: schema.input_names(),
        targets,
        target_names: target_names.to_vec(),
        image: None,
        scaling: Scaling::default(),
        schema: Some(Arc::clone(schema)),
        weights: None,
    };
    Ok((data, unseen))
}

/// A table's rows (of those with targets) split into training and validation as
/// [`split_rows`] splits them, stratified, each side in file order: encoding then reads every
/// column in order, where a shuffled order missed the cache on most cells (training shuffles
/// each epoch itself).
///
/// ```
/// use shadergrad::data::{table::table_split, Targets};
/// let t = Targets::Values { values: (0..10).map(|v| v as f32).collect(), k: 1 };
/// let (train, val) = table_split(&t, 3, 0);
/// assert_eq!((train.len(), val.len()), (7, 3));
/// assert!(train.windows(2).all(|w| w[0] < w[1]) && val.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn table_split(targets: &Targets, validation: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut val) = split_rows(targets, validation, seed, true);
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// A table read and understood: its columns' kinds and roles, its targets, and the rows that
/// have them.
struct Understood {
    table: RawTable,
    info: Vec<ColumnInfo>,
    targets: Targets,
    rows: Vec<usize>,
    notes: Vec<String>,
}

fn understand(table: RawTable, columns: &Columns, task: Task) -> Result<Understood> {
    if columns.targets.is_empty() {
        return Err(Error::invalid("targets", "none", "at least one target column"));
    }
    let info = infer(&table, columns)?;
    let all: Vec<usize> = (0..table.rows).collect();
    let (targets, rows) = targets(&table, &columns.targets, task, &all)?;
    let mut notes = left_out_notes(&table.name, &info);
    notes.extend(mixed_notes(&table, &info));
    let dropped = table.rows - rows.len();
    if dropped > 0 {
        notes.push(format!(
            "{}: {dropped} of {} rows have no {} (a missing cell): left out",
            table.name,
            table.rows,
            columns.targets.join(" or ")
        ));
    }
    if rows.is_empty() {
        return Err(Error::bad_file(&table.name, "has no row with its target(s) given"));
    }
    Ok(Understood {
        table,
        info,
        targets,
        rows,
        notes,
    })
}

/// A CSV's training and validation splits, and what a user should know about how they were made.
#[derive(Debug)]
pub struct Split {
    pub train: Dataset,
    pub validation: Dataset,
    /// Lines on what was left out: identifier, index and empty columns, rows without a target,
    /// features missing in every training row.
    pub notes: Vec<String>,
    /// Rows with their targets (the data set's size).
    pub rows: usize,
}

/// A CSV's training and validation splits for `task`: `validation` rows held out (None: one
/// eighth), chosen by `seed` (stratified by class), the preprocessing fitted on the training
/// rows, and with `standardize` their numbers (and regression targets) standardised by the
/// training split's statistics.
///
/// ```
/// use shadergrad::data::{table::{load_split, Columns}, Task};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("p.csv");
/// let mut csv = String::from("island,mass,species\n");
/// for i in 0..40 {
///     let (island, species) = if i % 2 == 0 { ("Biscoe", "Gentoo") } else { ("Dream", "Adelie") };
///     let mass = if i % 7 == 0 { "NA".to_string() } else { (3000 + 50 * i).to_string() };
///     csv += &format!("{island},{mass},{species}\n");
/// }
/// std::fs::write(&path, csv)?;
/// let columns = Columns { targets: vec!["species".into()], ..Columns::default() };
/// let split = load_split(&path, &columns, Task::Classify, Some(8), 0, true)?;
/// assert_eq!((split.train.len(), split.validation.len()), (32, 8));
/// assert_eq!(split.train.feature_names, ["island=Biscoe", "island=Dream", "mass", "mass (missing)"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_split(
    path: &Path,
    columns: &Columns,
    task: Task,
    validation: Option<usize>,
    seed: u64,
    standardize: bool,
) -> Result<Split> {
    let u = understand(read_file(path, columns.na.as_deref())?, columns, task)?;
    u.targets.check_classes(&columns.targets.join(", "), &u.table.name)?;
    let n = u.rows.len();
    let mut notes = u.notes;
    let validation = match validation {
        Some(v) => v,
        None => {
            let (v, why) = default_validation(n, task, &u.table.name);
            notes.extend(why);
            v
        }
    };
    if validation >= n {
        return Err(Error::invalid(
            "--validation",
            validation.to_string(),
            format!("fewer than the {n} rows of {} that have targets", u.table.name),
        ));
    }
    let (train_at, val_at) = table_split(&u.targets, validation, seed);
    let pick = |at: &[usize]| -> Vec<usize> { at.iter().map(|&i| u.rows[i]).collect() };
    let (train_rows, val_rows) = (pick(&train_at), pick(&val_at));
    let schema = Arc::new(Schema::fit(
        &u.table,
        &u.info,
        &train_rows,
        columns.features.as_deref(),
        columns.na.clone(),
    ));
    notes.extend(
        schema
            .left_out
            .iter()
            .filter(|(name, _)| u.info.iter().any(|c| c.name == *name && c.role == Role::Feature))
            .map(|(name, why)| format!("{}: column `{name}` is left out: {why}", u.table.name)),
    );
    let encode = |rows: &[usize], at: &[usize]| {
        encoded(&u.table, &schema, rows, u.targets.subset(at), &columns.targets).map(|(data, _)| data)
    };
    let mut train = encode(&train_rows, &train_at)?;
    let mut val = encode(&val_rows, &val_at)?;
    if standardize {
        let scaling = train.fit_scaling(true, task == Task::Regress);
        train.standardize(&scaling);
        val.standardize(&scaling);
    }
    Ok(Split {
        train,
        validation: val,
        notes,
        rows: n,
    })
}

/// A data set for `task` from CSV bytes (`name` for errors): every row with its targets, the
/// preprocessing fitted on them all, nothing standardised.
///
/// ```
/// use shadergrad::data::{table::{parse_csv, Columns}, Task};
/// let csv = b"height,weight,class\n1.5,60,3\n1.8,80,7\n1.6,65,3\n";
/// let columns = Columns { targets: vec!["class".into()], ..Columns::default() };
/// let d = parse_csv(csv, "people.csv", &columns, Task::Classify)?;
/// assert_eq!((d.len(), d.feature_count, d.outputs()), (3, 2, 2));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn parse_csv(bytes: &[u8], name: &str, columns: &Columns, task: Task) -> Result<Dataset> {
    let table = read_csv(bytes, name, &Markers::new(columns.na.as_deref()))?;
    let u = understand(table, columns, task)?;
    let schema = Arc::new(Schema::fit(
        &u.table,
        &u.info,
        &u.rows,
        columns.features.as_deref(),
        columns.na.clone(),
    ));
    if schema.features.is_empty() {
        return Err(Error::bad_file(name, "leaves no column to be a feature"));
    }
    let (data, _) = encoded(&u.table, &schema, &u.rows, u.targets, &columns.targets)?;
    data.check(name)?;
    Ok(data)
}

/// A data set for `task` from a CSV file, as [`parse_csv`] makes one.
pub fn load_csv(path: &Path, columns: &Columns, task: Task) -> Result<Dataset> {
    let bytes = crate::training::io::read_whole(path)?;
    parse_csv(&bytes, &path.display().to_string(), columns, task)
}

/// Class targets from whole-number values (NumPy arrays): the distinct values, sorted, are the
/// classes' labels. `at(i)` names example `i` in a message.
pub(crate) fn number_classes(values: &[f64], at: impl Fn(usize) -> String) -> std::result::Result<Targets, String> {
    if let Some(i) = values.iter().position(|v| v.fract() != 0.0) {
        return Err(format!(
            "{}: {} is not a whole number, which a class label must be (values to predict are --task regress)",
            at(i),
            values[i]
        ));
    }
    let mut labels: Vec<f64> = values.to_vec();
    labels.sort_by(f64::total_cmp);
    labels.dedup();
    let ids = values
        .iter()
        .map(|v| labels.binary_search_by(|l| l.total_cmp(v)).unwrap_or(0) as u32)
        .collect();
    Ok(Targets::Classes {
        ids,
        labels,
        names: Vec::new(),
    })
}
