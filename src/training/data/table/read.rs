//! Reading a CSV into typed columns, as fast as the file can be parsed: the header read, the
//! bytes after it cut at row boundaries into one piece per worker (quotes respected), each piece
//! read into columns of its own (`pieces.rs`), and the pieces joined (`column.rs`). A column stays numbers (f32, NaN
//! where a cell is missing) while every present cell parses as a number; the first text cell
//! turns it into text: each distinct cell stored once, every row a code. No cell of a numeric
//! column is kept as a string. A byte-order mark, CRLF line ends and quoted cells holding commas
//! or line ends read like anything else, and every message names the row, its line, the column
//! and the text.

use std::sync::Mutex;

use crate::engine::error::{Error, Result};
use crate::engine::pool;

use super::column::{join, Markers, RawColumn};
use super::pieces::{self, cuts, read_piece, Fault};

/// A CSV read into columns.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTable {
    /// The file, for messages.
    pub name: String,
    /// The columns' names, in file order (trimmed).
    pub header: Vec<String>,
    pub columns: Vec<RawColumn>,
    pub rows: usize,
    /// The line of the file each row starts on.
    pub lines: Vec<u32>,
}

impl RawTable {
    /// ` (line N)` for row `i` (0-based), for messages.
    pub fn line_of(&self, i: usize) -> String {
        self.lines.get(i).map_or(String::new(), |l| format!(" (line {l})"))
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&RawColumn> {
        self.header.iter().position(|h| h == name).map(|i| &self.columns[i])
    }
}

/// Reads CSV `bytes` (a header row, then rows; `name` for messages) into columns, with the cells
/// `markers` names counted as missing. The work is split over the CPU's workers.
///
/// ```
/// use shadergrad::data::table::{read_csv, Markers, RawColumn};
/// let t = read_csv(b"\xEF\xBB\xBFsize,colour\r\n1.5,\"red, dark\"\r\nNA,blue\r\n", "t.csv", &Markers::new(None))?;
/// assert_eq!((t.header.clone(), t.rows), (vec!["size".to_string(), "colour".to_string()], 2));
/// assert!(matches!(&t.columns[0], RawColumn::Numbers(v) if v[0] == 1.5 && v[1].is_nan()));
/// assert_eq!(t.columns[1].text(0).as_deref(), Some("red, dark"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn read_csv(bytes: &[u8], name: &str, markers: &Markers) -> Result<RawTable> {
    let bad = |why: String| Error::bad_file(name, why);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match reader.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect(),
        Err(e) => return Err(bad(format!("cannot be read as CSV: {e}"))),
    };
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(bad("is empty: a CSV needs a header row naming its columns".into()));
    }
    for (i, h) in header.iter().enumerate() {
        if let Some(j) = header[..i].iter().position(|o| o == h) {
            return Err(bad(format!(
                "the column name `{h}` appears twice (columns {} and {})",
                j + 1,
                i + 1
            )));
        }
    }
    // The rows start after the header's record (the position of the first data record).
    let mut first = csv::ByteRecord::new();
    let body_start = match reader.read_byte_record(&mut first) {
        Ok(true) => first.position().map_or(bytes.len(), |p| p.byte() as usize),
        Ok(false) => return Err(bad("has a header but no rows".into())),
        Err(e) => {
            let line = e.position().map_or(2, |p| p.line());
            return Err(bad(format!("row 1 (line {line}) cannot be read as CSV: {e}")));
        }
    };
    // The rows start after the header and any blank lines; their line, 1-based, counted from
    // the bytes before them.
    let mut body_start = body_start.min(bytes.len());
    while body_start < bytes.len() && matches!(bytes[body_start], b'\r' | b'\n') {
        body_start += 1;
    }
    let mut line = 1 + memchr::memchr_iter(b'\n', &bytes[..body_start]).count() as u64;
    let body = &bytes[body_start..];
    let width = header.len();
    let cut = cuts(body, pool::threads());
    let slots: Vec<Mutex<Option<std::result::Result<pieces::Read, Fault>>>> =
        cut.iter().map(|_| Mutex::new(None)).collect();
    pool::run(cut.len(), |i| {
        let end = cut.get(i + 1).copied().unwrap_or(body.len());
        let piece = read_piece(&body[cut[i]..end], width, markers);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(piece);
    });
    let mut columns = Vec::with_capacity(slots.len());
    let mut lines: Vec<u32> = Vec::new();
    for slot in slots {
        let rows = lines.len();
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(piece)) => {
                columns.push(piece.columns);
                lines.extend(
                    piece
                        .lines
                        .iter()
                        .map(|&l| (l as u64 + line).min(u32::MAX as u64) as u32),
                );
                line += piece.line_ends;
            }
            Some(Err(f)) => {
                let at = match f.column {
                    Some(j) => format!(", column `{}`:", header[j]),
                    None => String::new(),
                };
                return Err(bad(format!(
                    "row {} (line {}){at} {}",
                    rows + f.row,
                    line + f.line,
                    f.why
                )));
            }
            None => return Err(bad("a piece of it was not read".into())),
        }
    }
    let pieces = columns;
    Ok(RawTable {
        name: name.to_string(),
        header,
        columns: join(pieces, width),
        rows: lines.len(),
        lines,
    })
}
