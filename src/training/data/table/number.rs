//! Reading a cell as an f32, the common case quickly: a decimal whose digits make an integer of
//! at most 2²⁴ and whose power of ten is within ±10 is `digits × 10ᵏ` or `digits / 10ᵏ` in one f32 operation,
//! both operands exact, so the result is correctly rounded (Clinger's fast path); anything else
//! goes to the standard library's parser. Either way the value is the one `str::parse` gives.

/// Powers of ten exact in f32 (10¹⁰ = 2¹⁰·5¹⁰, and 5¹⁰ < 2²⁴).
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// The f32 `text` spells, as `text.parse::<f32>()` reads it (None where it errs).
pub(super) fn parse(text: &str) -> Option<f32> {
    prefix(text.as_bytes())
        .filter(|&(_, n)| n == text.len())
        .map(|(v, _)| v)
        .or_else(|| text.parse().ok())
}

/// The fast path on the start of `b`: `[+-]digits[.digits][(e|E)[+-]digits]` whose digits make
/// an integer of at most 2²⁴ and whose power of ten is within ±10, its value and length; None where the
/// start of `b` is not of that form (it may still be a number, or the start of a longer one).
pub(super) fn prefix(b: &[u8]) -> Option<(f32, usize)> {
    let (negative, sign) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let body = &b[sign..];
    // The mantissa's digits as one integer (leading zeros add nothing), and the point's place.
    let digits = |from: usize, w: &mut u64| -> usize {
        let mut i = from;
        while let Some(d) = body.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            *w = w.wrapping_mul(10).wrapping_add(d as u64);
            i += 1;
        }
        i
    };
    let mut w = 0u64;
    let mut i = digits(0, &mut w);
    let mut count = i;
    let mut scale = 0i32;
    if body.get(i) == Some(&b'.') {
        let end = digits(i + 1, &mut w);
        scale = -((end - i - 1) as i32);
        count += end - i - 1;
        i = end;
    }
    // At most 19 digits cannot wrap a u64; w ≤ 2²⁴ is exact as an f32.
    if count == 0 || count > 19 || w > 1 << 24 {
        return None;
    }
    if let Some(b'e' | b'E') = body.get(i) {
        // An exponent: e, a sign, one to three digits (a longer one is the slow path's).
        let exp = &body[i + 1..];
        let (sign, start) = match exp.first() {
            Some(b'-') => (-1, 1),
            Some(b'+') => (1, 1),
            _ => (1, 0),
        };
        let digits = exp[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        let e = exp[start..start + digits]
            .iter()
            .fold(0i32, |e, &c| e * 10 + (c - b'0') as i32);
        scale += sign * e;
        i += 1 + start + digits;
    }
    if scale.unsigned_abs() as usize >= POW10.len() {
        return None;
    }
    let w = w as f32; // at most 2²⁴: exact
    let v = if scale >= 0 {
        w * POW10[scale as usize]
    } else {
        w / POW10[(-scale) as usize]
    };
    Some((if negative { -v } else { v }, sign + i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_read_as_the_standard_parser_reads_them() {
        for t in [
            "0",
            "-0",
            "+1",
            "1.",
            ".5",
            "-.5",
            "1e3",
            "1E+3",
            "2.5e-10",
            "1e10",
            "1e11",
            "123456.7",
            "1234567.8",
            "0.000001234567",
            "9999999",
            "16777217",
            "1e",
            "e3",
            ".",
            "-",
            "",
            "1.2.3",
            "1e-",
            "inf",
            "NaN",
            "0x10",
            "00000000001",
            "3.4028235e38",
            "1e-45",
        ] {
            let want = t.parse::<f32>().ok();
            assert_eq!(parse(t).map(f32::to_bits), want.map(f32::to_bits), "{t:?}");
        }
    }

    proptest! {
        #[test]
        fn numbers_written_any_way_read_back_bit_for_bit(v in any::<f32>(), digits in 0usize..9, exp in any::<bool>()) {
            prop_assume!(v.is_finite());
            let text = if exp { format!("{v:.digits$e}") } else { format!("{v:.digits$}") };
            prop_assert_eq!(parse(&text).map(f32::to_bits), text.parse::<f32>().ok().map(f32::to_bits), "{}", text);
        }

        #[test]
        fn any_text_reads_as_the_standard_parser_reads_it(text in "[-+0-9.eE]{0,12}") {
            prop_assert_eq!(parse(&text).map(f32::to_bits), text.parse::<f32>().ok().map(f32::to_bits), "{}", text);
        }
    }
}
