//! HTTP byte ranges of package downloads (RFC 9110 §14): one `Range: bytes=…` range, so an
//! interrupted download resumes where it stopped. Several ranges in one request are answered with
//! the whole file, which the RFC allows.

use std::ops::RangeInclusive;

/// What a `Range` header asks of a file of `length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: send the whole file.
    Whole,
    /// Send these bytes (206).
    Part(RangeInclusive<u64>),
    /// No byte of the range is in the file (416).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `length` bytes.
#[must_use]
pub fn parse(header: Option<&str>, length: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Whole };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Whole };
    let (first, last) = (first.trim(), last.trim());
    let number = |text: &str| text.parse::<u64>().ok();
    let range = match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(suffix) => length.saturating_sub(suffix)..=length.saturating_sub(1),
            None => return RangeRequest::Whole,
        },
        // `bytes=N-`: from N to the end.
        (false, true) => match number(first) {
            Some(start) => start..=length.saturating_sub(1),
            None => return RangeRequest::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => start..=end.min(length.saturating_sub(1)),
            _ => return RangeRequest::Whole,
        },
        (true, true) => return RangeRequest::Whole,
    };
    if length == 0 || *range.start() >= length {
        RangeRequest::Unsatisfiable
    } else if *range.start() == 0 && *range.end() == length - 1 {
        RangeRequest::Whole
    } else {
        RangeRequest::Part(range)
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest, parse};

    #[test]
    fn single_ranges_are_served_and_the_rest_is_the_whole_file() {
        assert_eq!(parse(Some("bytes=0-99"), 1000), RangeRequest::Part(0..=99));
        assert_eq!(parse(Some("bytes=900-"), 1000), RangeRequest::Part(900..=999));
        assert_eq!(parse(Some("bytes=-100"), 1000), RangeRequest::Part(900..=999));
        assert_eq!(parse(Some("bytes=500-5000"), 1000), RangeRequest::Part(500..=999), "clamped to the end");
        assert_eq!(parse(Some("bytes=-5000"), 1000), RangeRequest::Whole, "a suffix longer than the file");
        assert_eq!(parse(Some("bytes=0-"), 1000), RangeRequest::Whole);
        assert_eq!(parse(Some("bytes=1000-"), 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-0"), 0), RangeRequest::Unsatisfiable);
        for ignored in [None, Some("bytes=0-1,5-6"), Some("items=0-1"), Some("bytes=9-1"), Some("bytes=x-1")] {
            assert_eq!(parse(ignored, 1000), RangeRequest::Whole, "{ignored:?}");
        }
    }
}
