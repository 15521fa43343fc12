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
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const GREY: Rgb = [200, 200, 200];
const INK: Rgb = [40, 40, 40];

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

/// A tick label with as many decimals as the spacing of the ticks, `step`, needs.
fn label(v: f64, step: f64) -> String {
    if v.abs() >= 1e4 && step >= 100.0 {
        return format!("{:.0}k", v / 1e3);
    }
    let decimals = if step > 0.0 {
        (1.0 - step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    format!("{v:.decimals$}")
}

impl Chart {
    fn draw(&self, s: &mut dyn Surface) {
        let fx = |x: f64| if self.log_x { x.max(1e-300).log10() } else { x };
        let (x0, x1) = range(self.series.iter().flat_map(|s| s.points.iter().map(|p| fx(p.0))));
        let axis_range = |axis: Axis| {
            range(
                self.series
                    .iter()
                    .filter(|s| s.axis == axis)
                    .flat_map(|s| s.points.iter().map(|p| p.1)),
            )
        };
        let (l0, l1) = axis_range(Axis::Left);
        let (r0, r1) = axis_range(Axis::Right);
        let px = |x: f64| LEFT + (fx(x) - x0) / (x1 - x0) * (W - LEFT - RIGHT);
        let py = |y: f64, (lo, hi): (f64, f64)| H - BOTTOM - (y - lo) / (hi - lo) * (H - TOP - BOTTOM);

        s.text((W / 2.0, 22.0), &self.title, INK, 1);
        for i in 0..=4 {
            let t = i as f64 / 4.0;
            let y = H - BOTTOM - t * (H - TOP - BOTTOM);
            s.line((LEFT, y), (W - RIGHT, y), GREY, 1.0);
            s.text(
                (LEFT - 6.0, y + 4.0),
                &label(l0 + t * (l1 - l0), (l1 - l0) / 4.0),
                INK,
                2,
            );
            if self.series.iter().any(|s| s.axis == Axis::Right) {
                s.text(
                    (W - RIGHT + 6.0, y + 4.0),
                    &label(r0 + t * (r1 - r0), (r1 - r0) / 4.0),
                    INK,
                    0,
                );
            }
        }
        // x ticks at the data's own x values when there are few (epochs, batch sizes), else five.
        let mut xs: Vec<f64> = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        if xs.len() > 12 || xs.is_empty() {
            xs = (0..=4)
                .map(|i| {
                    let v = x0 + i as f64 / 4.0 * (x1 - x0);
                    if self.log_x {
                        10f64.powf(v)
                    } else {
                        v
                    }
                })
                .collect();
        }
        let step = if xs.len() > 1 {
            (xs[xs.len() - 1] - xs[0]) / (xs.len() - 1) as f64
        } else {
            1.0
        };
        for &xv in &xs {
            let x = px(xv);
            s.line((x, H - BOTTOM), (x, H - BOTTOM + 4.0), INK, 1.0);
            let shown_step = if self.log_x { (xv * 10.0).max(1e-300) } else { step };
            s.text((x, H - BOTTOM + 18.0), &label(xv, shown_step), INK, 1);
        }
        s.line((LEFT, H - BOTTOM), (W - RIGHT, H - BOTTOM), INK, 1.0);
        s.line((LEFT, TOP), (LEFT, H - BOTTOM), INK, 1.0);
        s.text((W / 2.0, H - 18.0), &self.x_label, INK, 1);
        s.text((8.0, TOP - 12.0), &self.left_label, INK, 0);
        s.text((W - 8.0, TOP - 12.0), &self.right_label, INK, 2);
        for (k, series) in self.series.iter().enumerate() {
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
            let ly = TOP + 14.0 + 16.0 * k as f64;
            s.line((LEFT + 12.0, ly - 4.0), (LEFT + 32.0, ly - 4.0), series.color, 3.0);
            s.text((LEFT + 38.0, ly), &series.name, INK, 0);
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
        series: vec![
            Series {
                name: "training loss".into(),
                color: [31, 119, 180],
                axis: Axis::Left,
                points: history.iter().map(|r| (r.epoch as f64, r.loss)).collect(),
            },
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
        ],
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
