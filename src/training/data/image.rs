//! Images to predict on: PNG (through the `png` crate) or PGM (binary `P5` or text `P2`),
//! read as 8-bit grayscale. Colour PNGs become their luma (ITU-R BT.601 weights); alpha is
//! ignored; 16-bit samples keep their high byte.

use std::io::Cursor;
use std::path::Path;

use crate::engine::error::{Error, Result};

/// An 8-bit grayscale image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// What a set of images looks like, in pixel values (0–255): the mean pixel of an image
/// (averaged over the set, with its spread), and its border's (the outermost ring: the background
/// of a centred subject). A model records its training images' so that images unlike them (a
/// dark digit on white where training had light on black) can be told apart before a confident,
/// meaningless prediction.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PixelStats {
    pub mean: f64,
    /// The standard deviation of the images' mean pixels.
    pub spread: f64,
    pub border: f64,
}

impl PixelStats {
    /// How many spreads an image's mean may lie from the set's before it is unlike them.
    const MEAN_SPREADS: f64 = 6.0;
    /// How far (of 255) an image's border may lie from the set's.
    const BORDER: f64 = 64.0;

    /// The statistics of `images`, row-major `[n, rows·cols]` bytes of `[rows, cols]` each;
    /// None for no images.
    ///
    /// ```
    /// use shadergrad::data::image::PixelStats;
    /// let dark = [0, 0, 0, 0, 200, 0, 0, 0, 0]; // a bright dot on black, 3×3
    /// let s = PixelStats::of(&dark, [3, 3]).unwrap();
    /// assert_eq!((s.border, s.spread), (0.0, 0.0));
    /// let inverted: Vec<u8> = dark.iter().map(|p| 255 - p).collect();
    /// assert!(s.unlike(&PixelStats::of(&inverted, [3, 3]).unwrap()).is_some());
    /// assert!(s.unlike(&s).is_none());
    /// ```
    pub fn of(images: &[u8], [rows, cols]: [usize; 2]) -> Option<PixelStats> {
        let size = rows * cols;
        if size == 0 || images.len() < size {
            return None;
        }
        let on_border = |i: usize| {
            let (r, c) = (i / cols, i % cols);
            r == 0 || c == 0 || r + 1 == rows || c + 1 == cols
        };
        let ring = (0..size).filter(|&i| on_border(i)).count().max(1) as f64;
        let (mut means, mut border) = (Vec::new(), 0.0);
        for image in images.chunks_exact(size) {
            means.push(image.iter().map(|&p| p as f64).sum::<f64>() / size as f64);
            border += image
                .iter()
                .enumerate()
                .filter(|(i, _)| on_border(*i))
                .map(|(_, &p)| p as f64)
                .sum::<f64>()
                / ring;
        }
        let n = means.len() as f64;
        let mean = means.iter().sum::<f64>() / n;
        let spread = (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt();
        Some(PixelStats {
            mean,
            spread,
            border: border / n,
        })
    }

    /// Why an image (its own statistics) is unlike the images these describe, if it is: its mean
    /// pixel more than six spreads (at least one grey level each) from theirs, or its border a
    /// quarter of the range or more from theirs.
    pub fn unlike(&self, image: &PixelStats) -> Option<String> {
        let far_mean = (image.mean - self.mean).abs() > Self::MEAN_SPREADS * self.spread.max(1.0);
        let far_border = (image.border - self.border).abs() >= Self::BORDER;
        (far_mean || far_border).then(|| {
            format!(
                "mean pixel {:.0} against {:.0} ± {:.0}, background {:.0} against {:.0}",
                image.mean, self.mean, self.spread, image.border, self.border
            )
        })
    }
}

/// More pixels than this is no image a model here reads (and the header is not trusted).
const MAX_PIXELS: usize = 1 << 26;

/// Parses PNG or PGM bytes (told apart by their first bytes); `name` is for errors.
///
/// ```
/// let img = shadergrad::data::image::parse(b"P2\n2 1\n255\n0 255\n", "tiny.pgm")?;
/// assert_eq!((img.width, img.height, img.pixels), (2, 1, vec![0, 255]));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn parse(bytes: &[u8], name: &str) -> Result<Image> {
    if bytes.starts_with(b"\x89PNG") {
        parse_png(bytes, name)
    } else if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        parse_pgm(bytes, name)
    } else {
        Err(Error::bad_file(name, "is neither a PNG nor a PGM (P2 or P5) image"))
    }
}

/// Reads an image file.
pub fn load(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, &path.display().to_string())
}

fn parse_png(bytes: &[u8], name: &str) -> Result<Image> {
    let bad = |why: String| Error::bad_file(name, why);
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?;
    let (width, height) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(bad(format!(
            "is {width}×{height} pixels, larger than any model's input"
        )));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad("its size overflows".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?;
    let channels = frame.color_type.samples();
    let data = &buf[..frame.buffer_size()];
    let pixels = data
        .chunks_exact(channels.max(1))
        .map(|p| match p.len() {
            1 | 2 => p[0],
            _ => (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).round() as u8,
        })
        .take(width * height)
        .collect::<Vec<u8>>();
    if pixels.len() != width * height {
        return Err(bad("holds fewer pixels than its size".into()));
    }
    Ok(Image { width, height, pixels })
}

fn parse_pgm(bytes: &[u8], name: &str) -> Result<Image> {
    let bad = |why: &str| Error::bad_file(name, why.to_string());
    // The header: magic, width, height, maxval, separated by whitespace and # comments.
    let mut pos = 2;
    let mut field = || -> Option<usize> {
        loop {
            match bytes.get(pos)? {
                b'#' => {
                    while bytes.get(pos).is_some_and(|&c| c != b'\n') {
                        pos += 1;
                    }
                }
                c if c.is_ascii_whitespace() => pos += 1,
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        std::str::from_utf8(&bytes[start..pos]).ok()?.parse().ok()
    };
    let (Some(width), Some(height), Some(maxval)) = (field(), field(), field()) else {
        return Err(bad(
            "its PGM header does not give a width, a height and a maximum value",
        ));
    };
    if maxval == 0 || maxval > 65535 {
        return Err(bad("its maximum value is not in 1..=65535"));
    }
    if width.saturating_mul(height) > MAX_PIXELS || width == 0 || height == 0 {
        return Err(bad("its size is zero or larger than any model's input"));
    }
    let n = width * height;
    let scale = |v: usize| ((v.min(maxval) * 255 + maxval / 2) / maxval) as u8;
    let pixels: Vec<u8> = if bytes.starts_with(b"P5") {
        // One whitespace byte, then the samples: one byte each, two (big-endian) past 255.
        let data = bytes.get(pos + 1..).unwrap_or(&[]);
        let wide = maxval > 255;
        let want = if wide { 2 * n } else { n };
        if data.len() < want {
            return Err(bad("is truncated: it holds fewer pixels than its size"));
        }
        if wide {
            data[..want]
                .chunks_exact(2)
                .map(|c| scale(u16::from_be_bytes([c[0], c[1]]) as usize))
                .collect()
        } else {
            data[..n].iter().map(|&v| scale(v as usize)).collect()
        }
    } else {
        let text = std::str::from_utf8(&bytes[pos..]).map_err(|_| bad("its pixels are not text"))?;
        let values: Vec<usize> = text
            .split_ascii_whitespace()
            .take(n)
            .map(|t| t.parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad("a pixel is not a number"))?;
        if values.len() < n {
            return Err(bad("is truncated: it holds fewer pixels than its size"));
        }
        values.into_iter().map(scale).collect()
    };
    Ok(Image { width, height, pixels })
}
