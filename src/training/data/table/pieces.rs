//! One worker's piece of a CSV's rows, read into columns of its own: where the rows can be cut
//! into pieces (never inside a quoted cell), and each piece read, by the `csv` crate where it
//! holds quotes (or a lone `\r`), or split at commas and line ends directly where it holds
//! neither, the same cells either way, about twice as fast. Line numbers are counted within the
//! piece, from its own bytes; the join adds the lines before it.

use super::column::{Builder, Markers, RawColumn};
use super::number;

/// What went wrong reading a piece: at which of its rows and on which of its lines (0-based,
/// within the piece), in which column.
pub(super) struct Fault {
    pub row: usize,
    pub line: u64,
    pub column: Option<usize>,
    pub why: String,
}

/// A piece read: its columns, the line (within the piece) each row starts on, and how many line
/// ends the piece holds.
pub(super) struct Read {
    pub columns: Vec<RawColumn>,
    pub lines: Vec<u32>,
    pub line_ends: u64,
}

/// Line numbers of byte offsets met in increasing order, counted from the bytes themselves: the
/// csv crate's own count runs one short after a CRLF line end (it starts the next record at the
/// `\n`), and a spreadsheet's file has them on every line.
#[derive(Default)]
struct LineCounter {
    /// Bytes counted so far, and the line ends among them.
    upto: usize,
    ends: u64,
}

impl LineCounter {
    /// The 0-based line of the record starting at byte `at` (line ends and blank lines before
    /// its first cell skipped, as the record starts after them).
    fn line_at(&mut self, bytes: &[u8], at: usize) -> u64 {
        let mut start = at.min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.upto {
            // Not in increasing order (an error's position): count afresh.
            *self = LineCounter::default();
        }
        self.ends += memchr::memchr_iter(b'\n', &bytes[self.upto..start]).count() as u64;
        self.upto = start;
        self.ends
    }
}

/// The rows of `bytes` (no header) in `width` columns, with `markers`' cells missing.
pub(super) fn read_piece(bytes: &[u8], width: usize, markers: &Markers) -> Result<Read, Fault> {
    if plain(bytes) {
        read_plain(bytes, width, markers)
    } else {
        read_quoted(bytes, width, markers)
    }
}

/// Whether `bytes` hold no quote and every `\r` ends a line (`\r\n`): then a line is a row and
/// its commas part its cells, as the csv crate would read them.
fn plain(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_none() && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// Adds row `row`'s cells (trimmed) to the builders; the fault names the cell that cannot be.
fn push_row<'a>(
    builders: &mut [Builder],
    cells: impl Iterator<Item = &'a [u8]>,
    markers: &Markers,
    (row, line): (usize, u64),
) -> Result<(), Fault> {
    for (j, (cell, b)) in cells.zip(builders).enumerate() {
        push_cell(b, cell, markers).map_err(|why| Fault {
            row,
            line,
            column: Some(j),
            why,
        })?;
    }
    Ok(())
}

/// Adds a cell (trimmed here) to its column's builder: missing, a number or text.
fn push_cell(b: &mut Builder, cell: &[u8], markers: &Markers) -> Result<(), String> {
    let cell = cell.trim_ascii();
    if markers.is_missing(cell) {
        b.push_missing();
        Ok(())
    } else {
        b.push(cell)
    }
}

/// The fault of a row of `cells` cells where the header names `width`.
fn ragged(row: usize, line: u64, cells: usize, width: usize) -> Fault {
    Fault {
        row,
        line,
        column: None,
        why: format!("has {cells} cells, but the header names {width} columns"),
    }
}

fn builders(width: usize) -> Vec<Builder> {
    (0..width).map(|_| Builder::Numbers(Vec::new())).collect()
}

/// [`read_piece`] of bytes that are [`plain`]: each line a row (blank lines none), its cells
/// between commas.
fn read_plain(bytes: &[u8], width: usize, markers: &Markers) -> Result<Read, Fault> {
    let mut builders = builders(width);
    let mut lines = Vec::new();
    let mut line_ends = 0;
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = line_ends;
        if end < bytes.len() {
            line_ends += 1;
        }
        let text = &bytes[start..end];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        start = end + 1;
        if text.is_empty() {
            continue;
        }
        lines.push(line.min(u32::MAX as u64) as u32);
        let row = lines.len();
        // A row of the wrong width is said before any fault of its cells, as the csv path says it.
        let count = || text.iter().filter(|&&b| b == b',').count() + 1;
        let fault = |j: usize, why: String| match count() {
            n if n != width => ragged(row, line, n, width),
            _ => Fault {
                row,
                line,
                column: Some(j),
                why,
            },
        };
        // Where the next cell starts; past the end once the last cell is read.
        let mut at = 0;
        for (j, b) in builders.iter_mut().enumerate() {
            if at > text.len() {
                return Err(ragged(row, line, count(), width));
            }
            // A number where numbers are, ending at a comma or the line's end: pushed as it is
            // parsed. Anything else (spaces, text, a marker that could start a number): the
            // cell up to the next comma, trimmed, the general way.
            let rest = &text[at..];
            if let (Builder::Numbers(v), Some(&first)) = (&mut *b, rest.first()) {
                if !markers.may_start(first) {
                    if let Some((x, n)) =
                        number::prefix(rest).filter(|&(_, n)| matches!(rest.get(n), None | Some(b',')))
                    {
                        v.push(x);
                        at += n + 1;
                        continue;
                    }
                }
            }
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            push_cell(b, &rest[..end], markers).map_err(|why| fault(j, why))?;
            at += end + 1;
        }
        if at != text.len() + 1 {
            return Err(ragged(row, line, count(), width));
        }
    }
    Ok(Read {
        columns: builders.into_iter().map(Builder::finish).collect(),
        lines,
        line_ends,
    })
}

/// [`read_piece`] by the csv crate: quoted cells may hold commas, quotes and line ends.
fn read_quoted(bytes: &[u8], width: usize, markers: &Markers) -> Result<Read, Fault> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut builders = builders(width);
    let mut record = csv::ByteRecord::new();
    let mut lines = Vec::new();
    let mut counter = LineCounter::default();
    loop {
        let mut line = |p: Option<&csv::Position>| counter.line_at(bytes, p.map_or(0, |p| p.byte() as usize));
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(Fault {
                    row: lines.len() + 1,
                    line: line(e.position()),
                    column: None,
                    why: format!("cannot be read as CSV: {e}"),
                })
            }
        }
        let line = line(record.position());
        lines.push(line.min(u32::MAX as u64) as u32);
        let row = lines.len();
        if record.len() != width {
            // A blank line is no row (the csv crate skips them; a lone cell of spaces is not).
            return Err(ragged(row, line, record.len(), width));
        }
        push_row(&mut builders, record.iter(), markers, (row, line))?;
    }
    Ok(Read {
        columns: builders.into_iter().map(Builder::finish).collect(),
        lines,
        line_ends: memchr::memchr_iter(b'\n', bytes).count() as u64,
    })
}

/// Where the rows after the header can be cut into about `parts` pieces: at line ends outside
/// quotes, each cut the start of a piece. A file without quotes is cut after any line end; one
/// with quotes is walked byte by byte to know which line ends are inside quoted cells.
pub(super) fn cuts(body: &[u8], parts: usize) -> Vec<usize> {
    let mut out = vec![0];
    let target = body.len() / parts.max(1);
    if parts <= 1 || target < (1 << 16) {
        return out;
    }
    let quoted = memchr::memchr(b'"', body).is_some();
    let (mut at, mut in_quotes) = (0, false);
    for part in 1..parts {
        let want = (part * target).max(at);
        let end = if quoted {
            let mut i = at;
            while i < body.len() && (i < want || body[i] != b'\n' || in_quotes) {
                if body[i] == b'"' {
                    in_quotes = !in_quotes;
                }
                i += 1;
            }
            i
        } else {
            memchr::memchr(b'\n', &body[want.min(body.len())..]).map_or(body.len(), |i| want + i)
        };
        if end + 1 >= body.len() {
            break;
        }
        at = end + 1;
        out.push(at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a piece reads to, as comparable values (NaN as its bits), or the fault's place.
    type Outcome = Result<(Vec<RawColumn>, Vec<u32>, u64), (usize, u64, Option<usize>, String)>;

    fn outcome(r: Result<Read, Fault>) -> Outcome {
        match r {
            Ok(r) => Ok((r.columns, r.lines, r.line_ends)),
            Err(f) => Err((f.row, f.line, f.column, f.why)),
        }
    }

    proptest! {
        /// The direct split reads every plain piece as the csv crate does: the same columns,
        /// lines and faults.
        #[test]
        fn plain_pieces_read_as_the_csv_crate_reads_them(
            rows in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![
                    "1", "-2.5", "", "NA", " x ", "1e3", "inf", "yes", "\u{e9}", " 2", "3 ", "-", "+", "1.5.3", "12345678",
                    "1e0001", "0.1e1", ".5", "5.", "1e", "nan", "-0", "1e-45",
                ]), 1..5),
                0..12,
            ),
            crlf in any::<bool>(),
            blank in 0usize..4,
            width in 1usize..5,
            own_markers in any::<bool>(),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            for (i, r) in rows.iter().enumerate() {
                if i == blank {
                    text += end;
                }
                text += &r.join(",");
                text += end;
            }
            let bytes = text.as_bytes();
            prop_assume!(plain(bytes));
            // Markers that look like numbers must still be missing cells.
            let own = ["-".to_string(), "1e3".into(), "-0".into()];
            let markers = Markers::new(own_markers.then_some(&own[..]));
            let fast = outcome(read_plain(bytes, width, &markers));
            let slow = outcome(read_quoted(bytes, width, &markers));
            // NaN != NaN: compare through Debug, where NaN prints alike.
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }
}
