//! CSV tables: a header row naming the columns, then one example per row, read as a user's
//! table comes: text labels, categories, missing cells, an id or index column. From the bottom
//! up: a column as read and being read (`column.rs`), a cell as a number (`number.rs`), a
//! worker's piece of the rows (`pieces.rs`), the reader (`read.rs`: typed columns, fast), the
//! columns' kinds and roles (`infer.rs`),
//! the targets (`targets.rs`), the preprocessing fitted on the training split and recorded
//! with a model (`schema.rs`), and a CSV as a data set (`load.rs`). Every fault names the row
//! (and its line in the file), the column and the text.

mod column;
mod infer;
mod load;
mod number;
mod pieces;
mod read;
mod schema;
mod targets;

pub use column::{number_text, Markers, RawColumn, DEFAULT_NA, MISSING};
pub use infer::{
    count_distinct, infer, left_out_notes, mixed_notes, ColumnInfo, Columns, Kind, Role, IDENTIFIER_ROWS,
    IDENTIFIER_SHARE,
};
pub(crate) use load::number_classes;
pub use load::{encoded, load_csv, load_split, parse_csv, read_file, table_split, Split};
pub use read::{read_csv, RawTable};
pub use schema::{Encoding, Feature, Schema, Unseen, MAX_CATEGORIES, MIN_COUNT};
pub use targets::targets;
