//! Reports and pictures: training curves and charts, circuit diagrams, benchmarks, and a model
//! as an ONNX file.

pub mod bench;
pub mod onnx;
pub mod plot;
pub mod viz;

/// Text made safe inside XML (SVG) elements and attribute values: `&`, `<`, `>`, `"` and `'`
/// become entities.
///
pub(crate) fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_escaping_covers_markup_and_quotes() {
        assert_eq!(
            super::escape_xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }
}
