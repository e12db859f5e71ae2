//! How times and numbers read in the app: local clock time, relative times ("2 h ago"), and counts
//! with thousands separators.

use chrono::{Local, TimeZone as _};

/// Milliseconds since the epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    Local::now().timestamp_millis()
}

/// Local time: `14:05` today, `26 Nov 14:05` this year, else `26 Nov 2025 14:05`.
#[must_use]
pub fn local_time(ms: i64) -> String {
    let Some(time) = Local.timestamp_millis_opt(ms).single() else { return "?".into() };
    let now = Local::now();
    if time.date_naive() == now.date_naive() {
        time.format("%H:%M").to_string()
    } else if time.format("%Y").to_string() == now.format("%Y").to_string() {
        time.format("%-d %b %H:%M").to_string()
    } else {
        time.format("%-d %b %Y %H:%M").to_string()
    }
}

/// `just now`, `5 min ago`, `2 h ago`, `3 d ago`, or `in 35 min` for the future.
#[must_use]
pub fn relative(ms: i64, now_ms: i64) -> String {
    let delta = (now_ms - ms) / 1000;
    let (amount, future) = (delta.abs(), delta < 0);
    let text = match amount {
        0..=44 => return "just now".into(),
        45..=3_599 => format!("{} min", (amount + 30) / 60),
        3_600..=86_399 => format!("{} h", (amount + 1_800) / 3_600),
        _ => format!("{} d", (amount + 43_200) / 86_400),
    };
    if future { format!("in {text}") } else { format!("{text} ago") }
}

/// `4960` -> `4,960`.
#[must_use]
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Percent with one decimal, e.g. `12.5%`.
#[must_use]
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "0%".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let value = part as f64 * 100.0 / whole as f64;
    format!("{value:.1}%")
}

/// A package size: `12 KB`, `3.4 MB`.
#[must_use]
pub fn size_text(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let kb = bytes as f64 / 1024.0;
    if kb < 1024.0 { format!("{kb:.0} KB") } else { format!("{:.1} MB", kb / 1024.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_like_speech() {
        let now = 1_800_000_000_000;
        assert_eq!(relative(now - 10_000, now), "just now");
        assert_eq!(relative(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(relative(now - 2 * 3_600_000, now), "2 h ago");
        assert_eq!(relative(now - 3 * 86_400_000, now), "3 d ago");
        assert_eq!(relative(now + 35 * 60_000, now), "in 35 min");
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(4960), "4,960");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(percent(1, 8), "12.5%");
    }

    #[test]
    fn local_time_of_today_is_just_the_clock() {
        let text = local_time(now_ms());
        assert_eq!(text.len(), 5, "{text}");
        assert!(text.contains(':'));
    }
}
