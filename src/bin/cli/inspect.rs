//! `shadergrad inspect`: a table's columns as `train` would read them: each one's type, missing
//! and distinct cells, and what it becomes (the target, inputs of the model, or left out and why).

use std::path::PathBuf;

use shadergrad::data::table::{
    count_distinct, infer, mixed_notes, read_file, ColumnInfo, Columns, Encoding, Role, Schema,
};
use shadergrad::Result;

use crate::cli::stdout::print_out;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The CSV table.
    file: PathBuf,
    /// The column(s) to predict, as train would be told [default: none: every column a feature].
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// Columns of numbers to treat as categories.
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// The cells that mean "missing", besides empty ones [default: NA,N/A,NaN,null,None,?].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    na: Option<Vec<String>>,
    /// One JSON object (on one line) instead of a table.
    #[arg(long)]
    json: bool,
}

/// What a feature column becomes, in words: `number; missing cells get the median 44.45 and a
/// 0/1 column`, `one-hot: Biscoe, Dream, Torgersen (+ other)`.
fn encoding_words(e: &Encoding) -> String {
    match e {
        Encoding::Number { fill, indicator: true } => {
            format!("number; missing cells get the median {fill} and a 0/1 column")
        }
        Encoding::Number { .. } => "number".into(),
        Encoding::OneHot {
            categories,
            other,
            missing,
        } => {
            let mut out = format!("one-hot: {}", categories.join(", "));
            if *other {
                out += " (+ other: categories seen fewer than 5 times)";
            }
            if *missing {
                out += " (+ missing)";
            }
            out
        }
    }
}

/// What each column is used as: `target`, its encoding, or `left out: why`.
fn uses(info: &[ColumnInfo], schema: &Schema) -> Vec<String> {
    info.iter()
        .map(|c| match &c.role {
            Role::Target => "target".into(),
            Role::Left(why) => format!("left out: {why}"),
            Role::Feature => schema
                .features
                .iter()
                .find(|f| f.column == c.name)
                .map(|f| encoding_words(&f.encoding))
                .or_else(|| {
                    schema
                        .left_out
                        .iter()
                        .find(|(n, _)| *n == c.name)
                        .map(|(_, why)| format!("left out: {why}"))
                })
                .unwrap_or_default(),
        })
        .collect()
}

pub fn inspect(a: &InspectArgs) -> Result<()> {
    let table = read_file(&a.file, a.na.as_deref())?;
    let columns = Columns {
        targets: a.target.clone(),
        categorical: a.categorical.clone(),
        na: a.na.clone(),
        ..Columns::default()
    };
    let mut info = infer(&table, &columns)?;
    count_distinct(&table, &mut info);
    let all: Vec<usize> = (0..table.rows).collect();
    let schema = Schema::fit(&table, &info, &all, None, a.na.clone());
    let uses = uses(&info, &schema);
    let notes = mixed_notes(&table, &info);
    if a.json {
        let columns: Vec<serde_json::Value> = info
            .iter()
            .zip(&uses)
            .map(|(c, u)| {
                serde_json::json!({
                    "name": c.name, "type": c.kind.name(), "missing": c.missing, "distinct": c.distinct, "used_as": u,
                })
            })
            .collect();
        let record = serde_json::json!({
            "file": a.file.display().to_string(),
            "rows": table.rows,
            "inputs": schema.width(),
            "columns": columns,
            "notes": notes,
        });
        return print_out(&format!("{record}\n"));
    }
    let width = info.iter().map(|c| c.name.chars().count()).max().unwrap_or(6).max(6);
    let mut out = format!(
        "{}: {} rows, {} columns; a model of it takes {} inputs (fitted here on every row; train fits them on its training split)\n",
        a.file.display(),
        table.rows,
        info.len(),
        schema.width()
    );
    out += &format!(
        "{:<width$}  {:<11}  {:>7}  {:>8}  used as\n",
        "column", "type", "missing", "distinct"
    );
    for (c, u) in info.iter().zip(&uses) {
        let name = if c.name.is_empty() { "(no name)" } else { &c.name };
        out += &format!(
            "{name:<width$}  {:<11}  {:>7}  {:>8}  {u}\n",
            c.kind.name(),
            c.missing,
            c.distinct.unwrap_or_default()
        );
    }
    for note in notes {
        out += &format!("{note}\n");
    }
    print_out(&out)
}
