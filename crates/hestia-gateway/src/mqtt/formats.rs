//! The Homie v5 payload forms the gateway checks before publishing a set: colors
//! (`rgb`/`hsv`/`xyz`), ISO 8601 date-times and durations.

use crate::model::{CuiError, ErrorCode};

/// `rgb,R,G,B` (0-255), `hsv,H,S,V` (0-360, 0-100, 0-100) or `xyz,X,Y` (0-1, X+Y ≤ 1), in a
/// format the property allows.
pub fn check_color(text: &str, formats: &[String]) -> Result<(), CuiError> {
    let malformed = || CuiError::bad_request("a color is rgb,R,G,B or hsv,H,S,V or xyz,X,Y");
    let outside = |m: &str| CuiError::new(ErrorCode::OutOfRange, m.to_owned());
    let mut parts = text.split(',');
    let format = parts.next().ok_or_else(malformed)?;
    let numbers: Vec<f64> = parts
        .map(|p| p.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(malformed)?;
    let maxima: &[f64] = match format {
        "rgb" => &[255.0, 255.0, 255.0],
        "hsv" => &[360.0, 100.0, 100.0],
        "xyz" => &[1.0, 1.0],
        _ => return Err(malformed()),
    };
    if numbers.len() != maxima.len() {
        return Err(malformed());
    }
    if !formats.iter().any(|f| f == format) {
        return Err(outside("the property does not take that color format"));
    }
    let is_whole = format != "xyz";
    let is_in_range = numbers
        .iter()
        .zip(maxima)
        .all(|(n, max)| *n >= 0.0 && n <= max && (!is_whole || n.fract() == 0.0));
    if !is_in_range || (format == "xyz" && numbers.iter().sum::<f64>() > 1.0) {
        return Err(outside("a color component is out of range"));
    }
    Ok(())
}

/// ISO 8601 date and time: `YYYY-MM-DDTHH:MM:SS[.f][Z|±HH:MM]`.
pub fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let fixed = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zone = rest.as_bytes();
    match zone {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// ISO 8601 duration: `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]` with at least one part.
pub fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return false,
        None => (rest, None),
    };
    let date_ok = parts(date, "YMWD", false);
    let time_ok = time.is_none_or(|t| parts(t, "HMS", true).is_some_and(|n| n > 0));
    match (date_ok, time_ok) {
        (Some(n), true) => n > 0 || time.is_some(),
        _ => false,
    }
}

/// Counts `<number><designator>` parts, designators in order; None if malformed. Only seconds
/// (of a time part) may have a fraction.
fn parts(s: &str, designators: &str, is_time: bool) -> Option<usize> {
    let mut count = 0;
    let mut allowed = designators;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..n];
        let designator = rest[n..].chars().next()?;
        let at = allowed.find(designator)?;
        let is_number =
            number.split('.').all(|d| !d.is_empty()) && number.matches('.').count() <= 1;
        let is_fraction_ok = !number.contains('.') || (is_time && designator == 'S');
        if !is_number || !is_fraction_ok {
            return None;
        }
        allowed = &allowed[at + designator.len_utf8()..];
        rest = &rest[n + designator.len_utf8()..];
        count += 1;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_8601_dates_and_durations() {
        for ok in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.123+01:00",
            "2024-01-02T03:04:05",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "2024-01-02",
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05+0100",
            "2024-01-02T03:04:05.",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
        for ok in ["PT12H5M46S", "P1D", "P1DT2H", "PT0.5S", "P2W"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["P", "PT", "12H", "PT5H3H", "PT1.5M", "P1H", "PTS"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
