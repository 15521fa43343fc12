//! Line charts as SVG or PNG, with no external program: training curves (loss and accuracy per
//! epoch) and benchmark curves (samples/s against batch size). One drawing routine renders to
//! either surface; the PNG side rasterises lines and a small bitmap font, then encodes with zlib.

use std::fmt::Write as _;
use std::path::Path;

use crate::engine::error::{Error, Result};
use crate::reports::escape_xml;
use crate::training::data::Task;
use crate::training::train::EpochRecord;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Which vertical axis a series is scaled against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    Left,
    Right,
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: Rgb,
    pub axis: Axis,
    pub points: Vec<(f64, f64)>,
}

/// A chart: a title, axis labels and series; the x axis may be logarithmic.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub left_label: String,
    pub right_label: String,
    pub log_x: bool,
    pub series: Vec<Series>,
}

/// Where a chart is drawn: an SVG document or a pixel buffer.
trait Surface {
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64);
    /// Text with its left end (`anchor` 0), middle (1) or right end (2) at `at`.
    fn text(&mut self, at: (f64, f64), text: &str, color: Rgb, anchor: u8);
}

const W: f64 = 720.0;
const H: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 50.0;
/// Below the plotted area: the x ticks, the x axis's label, and the legend's row.
const BOTTOM: f64 = 96.0;
const GREY: Rgb = [200, 200, 200];
const INK: Rgb = [40, 40, 40];
/// About how wide a character of the charts' 12-pixel text is.
const CHAR_W: f64 = 6.5;

/// The smallest and largest finite values, padded by 5% (zero kept as the floor of data that
/// never goes below it); `(0, 1)` when there are none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = lo.abs().max(1.0) * 0.05;
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    // Non-negative data (losses, rates) keeps zero as its floor.
    let floor = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
    (floor, hi + pad)
}

/// A round step for about `intervals` intervals over `span`: 1, 2 or 5 × 10ⁿ.
///
/// ```
/// use shadergrad::plot::round_step;
/// assert_eq!(round_step(0.8, 4), 0.2);
/// assert_eq!(round_step(29.0, 6), 5.0);
/// assert_eq!(round_step(3.0, 4), 1.0);
/// ```
pub fn round_step(span: f64, intervals: usize) -> f64 {
    let raw = (span / intervals.max(1) as f64).max(1e-12);
    let magnitude = 10f64.powf(raw.log10().floor());
    let unit = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&u| raw <= u * magnitude * (1.0 + 1e-9));
    unit.unwrap_or(10.0) * magnitude
}

/// Ticks at whole multiples of `step` from `from` to `to` (inclusive, within rounding).
fn multiples(from: f64, to: f64, step: f64) -> Vec<f64> {
    let first = (from / step - 1e-9).ceil() as i64;
    let last = (to / step + 1e-9).floor() as i64;
    // Multiplied from whole numbers, so 0.1 × 3 is written as 0.3, not 0.30000000000000004.
    (first..=last).map(|i| round_to(i as f64 * step, step)).collect()
}

/// `v` rounded to the decimals `step` has.
fn round_to(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10().floor()).max(0.0) as i32;
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// An axis of values: its range widened to round ticks (1, 2 or 5 × 10ⁿ apart), about five
/// intervals.
fn value_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>, f64) {
    let step = round_step(hi - lo, 5);
    let (from, to) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    (from, to, multiples(from, to, step), step)
}

/// A tick label with as many decimals as the spacing of the ticks, `step`, needs.
fn label(v: f64, step: f64) -> String {
    if v.abs() >= 1e4 && step >= 100.0 {
        return format!("{}k", v / 1e3);
    }
    let decimals = if step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    format!("{v:.decimals$}")
}

impl Chart {
    fn draw(&self, s: &mut dyn Surface) {
        let fx = |x: f64| if self.log_x { x.max(1e-300).log10() } else { x };
        let (x0, x1) = range(self.series.iter().flat_map(|s| s.points.iter().map(|p| fx(p.0))));
        let axis = |axis: Axis| {
            let (lo, hi) = range(
                self.series
                    .iter()
                    .filter(|s| s.axis == axis)
                    .flat_map(|s| s.points.iter().map(|p| p.1)),
            );
            value_axis(lo, hi)
        };
        let (l0, l1, left_ticks, left_step) = axis(Axis::Left);
        let (r0, r1, right_ticks, right_step) = axis(Axis::Right);
        let px = |x: f64| LEFT + (fx(x) - x0) / (x1 - x0) * (W - LEFT - RIGHT);
        let py = |y: f64, (lo, hi): (f64, f64)| H - BOTTOM - (y - lo) / (hi - lo) * (H - TOP - BOTTOM);

        s.text((W / 2.0, 22.0), &self.title, INK, 1);
        for &v in &left_ticks {
            let y = py(v, (l0, l1));
            s.line((LEFT, y), (W - RIGHT, y), GREY, 1.0);
            s.text((LEFT - 6.0, y + 4.0), &label(v, left_step), INK, 2);
        }
        if self.series.iter().any(|s| s.axis == Axis::Right) {
            for &v in &right_ticks {
                let y = py(v, (r0, r1));
                s.line((W - RIGHT, y), (W - RIGHT + 4.0, y), INK, 1.0);
                s.text((W - RIGHT + 7.0, y + 4.0), &label(v, right_step), INK, 0);
            }
            s.line((W - RIGHT, TOP), (W - RIGHT, H - BOTTOM), INK, 1.0);
            s.text((W - 8.0, TOP - 12.0), &self.right_label, INK, 2);
        }
        self.x_ticks(s, &px, (x0, x1));
        s.line((LEFT, H - BOTTOM), (W - RIGHT, H - BOTTOM), INK, 1.0);
        s.line((LEFT, TOP), (LEFT, H - BOTTOM), INK, 1.0);
        s.text((W / 2.0, H - BOTTOM + 40.0), &self.x_label, INK, 1);
        s.text((8.0, TOP - 12.0), &self.left_label, INK, 0);
        for series in &self.series {
            let range = if series.axis == Axis::Left { (l0, l1) } else { (r0, r1) };
            let pts: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(x, y)| (px(x), py(y, range)))
                .collect();
            for w in pts.windows(2) {
                s.line(w[0], w[1], series.color, 2.0);
            }
            for &p in &pts {
                s.line((p.0 - 2.5, p.1), (p.0 + 2.5, p.1), series.color, 5.0);
            }
        }
        self.legend(s);
    }

    /// The x axis's ticks: on a log axis the data's own values (batch sizes) when there are few;
    /// on a linear one round values inside the data's range, whole numbers when the data's x
    /// are whole (epochs).
    fn x_ticks(&self, s: &mut dyn Surface, px: &dyn Fn(f64) -> f64, (x0, x1): (f64, f64)) {
        let mut xs: Vec<f64> = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let ticks: Vec<(f64, String)> = if self.log_x {
            if xs.len() > 12 || xs.is_empty() {
                let step = round_step(x1 - x0, 4).max(1.0);
                multiples(x0, x1, step)
                    .into_iter()
                    .map(|e| (10f64.powf(e), label(10f64.powf(e), 10f64.powf(e))))
                    .collect()
            } else {
                xs.iter().map(|&x| (x, label(x, x * 10.0))).collect()
            }
        } else {
            let whole = xs.iter().all(|x| x.fract() == 0.0);
            let mut step = round_step(x1 - x0, 8);
            if whole {
                step = step.max(1.0).round();
            }
            multiples(x0, x1, step)
                .into_iter()
                .map(|x| (x, label(x, step)))
                .collect()
        };
        for (xv, text) in ticks {
            let x = px(xv);
            s.line((x, H - BOTTOM), (x, H - BOTTOM + 4.0), INK, 1.0);
            s.text((x, H - BOTTOM + 18.0), &text, INK, 1);
        }
    }

    /// The series' names and colours in one row below the plotted area, centred.
    fn legend(&self, s: &mut dyn Surface) {
        let width = |name: &str| 20.0 + 6.0 + CHAR_W * name.chars().count() as f64;
        let gap = 24.0;
        let total: f64 =
            self.series.iter().map(|x| width(&x.name)).sum::<f64>() + gap * self.series.len().saturating_sub(1) as f64;
        let mut x = (W - total) / 2.0;
        let y = H - 18.0;
        for series in &self.series {
            s.line((x, y - 4.0), (x + 20.0, y - 4.0), series.color, 3.0);
            s.text((x + 26.0, y), &series.name, INK, 0);
            x += width(&series.name) + gap;
        }
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let mut svg = SvgSurface(String::new());
        self.draw(&mut svg);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
            svg.0
        )
    }

    /// The chart as PNG bytes.
    pub fn to_png(&self) -> Vec<u8> {
        let mut r = Raster::new(W as usize, H as usize);
        self.draw(&mut r);
        r.encode_png()
    }

    /// Writes the chart as SVG or PNG, by the file's extension, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let bytes = match ext.as_str() {
            "svg" => self.to_svg().into_bytes(),
            "png" => self.to_png(),
            _ => {
                return Err(Error::invalid(
                    "chart file",
                    path.display().to_string(),
                    "a file name ending in .svg or .png",
                ))
            }
        };
        crate::training::io::write_atomic(path, &bytes)
    }
}

/// Loss per epoch (training and validation) and the validation score: accuracy for classes
/// and labels, R² for regression.
///
/// ```
/// use shadergrad::{data::Task, plot, train::EpochRecord};
/// let h = vec![EpochRecord { epoch: 1, loss: 0.5, val_loss: 0.6, val_score: 0.9, samples_per_s: 1e4, seconds: 1.0 }];
/// assert!(plot::training_chart(&h, "demo", Task::Classify).to_svg().contains("validation accuracy"));
/// assert!(plot::training_chart(&h, "demo", Task::Regress).to_svg().contains("validation R²"));
/// ```
pub fn training_chart(history: &[EpochRecord], title: &str, task: Task) -> Chart {
    let (score, scale) = match task {
        Task::Regress => ("validation R²", 1.0),
        Task::Classify | Task::Multilabel => ("validation accuracy %", 100.0),
    };
    let mut series = vec![Series {
        name: "training loss".into(),
        color: [31, 119, 180],
        axis: Axis::Left,
        points: history.iter().map(|r| (r.epoch as f64, r.loss)).collect(),
    }];
    // A run without a validation split (`--validation 0`) has nothing else to draw.
    if history.iter().any(|r| r.val_loss.is_finite()) {
        series.extend([
            Series {
                name: "validation loss".into(),
                color: [44, 160, 44],
                axis: Axis::Left,
                points: history.iter().map(|r| (r.epoch as f64, r.val_loss)).collect(),
            },
            Series {
                name: score.into(),
                color: [255, 127, 14],
                axis: Axis::Right,
                points: history.iter().map(|r| (r.epoch as f64, scale * r.val_score)).collect(),
            },
        ]);
    }
    Chart {
        title: format!("training: {title}"),
        x_label: "epoch".into(),
        left_label: "loss".into(),
        right_label: if task == Task::Regress {
            "R²".into()
        } else {
            "accuracy %".into()
        },
        log_x: false,
        series,
    }
}

/// Writes the training curves to `path` (.svg or .png).
pub fn write_training_curves(path: &Path, history: &[EpochRecord], title: &str, task: Task) -> Result<()> {
    training_chart(history, title, task).write(path)
}

struct SvgSurface(String);

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

impl Surface for SvgSurface {
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64) {
        let _ = writeln!(
            self.0,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="{width}" stroke-linecap="round"/>"#,
            a.0,
            a.1,
            b.0,
            b.1,
            hex(color)
        );
    }

    fn text(&mut self, at: (f64, f64), text: &str, color: Rgb, anchor: u8) {
        let anchor = ["start", "middle", "end"][anchor.min(2) as usize];
        let text = escape_xml(text);
        let _ = writeln!(
            self.0,
            r#"<text x="{:.1}" y="{:.1}" fill="{}" text-anchor="{anchor}">{text}</text>"#,
            at.0,
            at.1,
            hex(color)
        );
    }
}

/// An RGB pixel buffer.
struct Raster {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Raster {
    fn new(w: usize, h: usize) -> Self {
        Raster {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn dot(&mut self, x: f64, y: f64, color: Rgb, r: f64) {
        let (x0, x1) = ((x - r).floor() as i64, (x + r).ceil() as i64);
        let (y0, y1) = ((y - r).floor() as i64, (y + r).ceil() as i64);
        for yy in y0..=y1 {
            for xx in x0..=x1 {
                if xx < 0 || yy < 0 || xx as usize >= self.w || yy as usize >= self.h {
                    continue;
                }
                let d = ((xx as f64 - x).powi(2) + (yy as f64 - y).powi(2)).sqrt();
                // Coverage falls off over the last pixel: a cheap anti-aliased edge.
                let cover = (r + 0.5 - d).clamp(0.0, 1.0);
                if cover > 0.0 {
                    let i = (yy as usize * self.w + xx as usize) * 3;
                    for (px, &want) in self.px[i..i + 3].iter_mut().zip(&color) {
                        let old = *px as f64;
                        *px = (old + (want as f64 - old) * cover).round() as u8;
                    }
                }
            }
        }
    }

    fn encode_png(&self) -> Vec<u8> {
        use std::io::Write;
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut crc = flate2::Crc::new();
            crc.update(kind);
            crc.update(data);
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&crc.sum().to_be_bytes());
        }
        let mut raw = Vec::with_capacity((self.w * 3 + 1) * self.h);
        for row in self.px.chunks(self.w * 3) {
            raw.push(0); // filter: none
            raw.extend_from_slice(row);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&raw);
        let compressed = z.finish().unwrap_or_default();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&(self.w as u32).to_be_bytes());
        ihdr.extend_from_slice(&(self.h as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &compressed);
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

impl Surface for Raster {
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64) {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            self.dot(a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, color, width / 2.0);
        }
    }

    fn text(&mut self, at: (f64, f64), text: &str, color: Rgb, anchor: u8) {
        let advance = 6.0;
        let width = advance * text.chars().count() as f64;
        let x0 = at.0 - width * anchor.min(2) as f64 / 2.0;
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) != 0 {
                        let x = x0 + k as f64 * advance + c as f64;
                        let y = at.1 - 8.0 + r as f64;
                        self.dot(x + 0.5, y + 0.5, color, 0.5);
                    }
                }
            }
        }
    }
}

/// A 5×7 bitmap glyph, rows top to bottom, bit 4 the leftmost pixel. Capitals are drawn as
/// lower case; characters without a glyph are blank.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_lowercase() {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'a' => [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e],
        'c' => [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e],
        'd' => [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f],
        'e' => [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e],
        'f' => [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'm' => [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e],
        'p' => [0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e],
        't' => [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a],
        'x' => [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'z' => [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f],
        '=' => [0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00],
        '×' => [0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00],
        '²' => [0x0c, 0x02, 0x04, 0x08, 0x0e, 0x00, 0x00],
        _ => [0; 7],
    }
}
