//! RFC 3339 date-times as Notary writes `expires` (Go's `time.Time` JSON form: optional
//! fractional seconds, `Z` or a numeric offset), read into a [`SystemTime`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The instant `text` names, or `None` if it is not an RFC 3339 date-time after 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let separator = |index: usize, expected: &[u8]| -> Option<()> {
        expected.contains(bytes.get(index)?).then_some(())
    };
    let year = number(0..4)?;
    separator(4, b"-")?;
    let month = number(5..7)?;
    separator(7, b"-")?;
    let day = number(8..10)?;
    separator(10, b"Tt")?;
    let hour = number(11..13)?;
    separator(13, b":")?;
    let minute = number(14..16)?;
    separator(16, b":")?;
    let second = number(17..19)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = bytes.get(19..)?;
    let mut nanos: u32 = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if length == 0 || length > 9 {
            return None;
        }
        let digits = fraction.get(..length)?;
        nanos = std::str::from_utf8(digits).ok()?.parse().ok()?;
        nanos *= 10u32.pow(9 - length as u32);
        rest = fraction.get(length..)?;
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                magnitude
            } else {
                -magnitude
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> Option<(u64, u32)> {
        parse_rfc3339(text)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| (d.as_secs(), d.subsec_nanos()))
    }

    #[test]
    fn reads_notary_forms() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(seconds("2000-03-01T00:00:00Z"), Some((951_868_800, 0)));
        assert_eq!(
            seconds("2021-02-03T04:05:06.5Z"),
            Some((1_612_325_106, 500_000_000))
        );
        // Same instant written with an offset and nanoseconds.
        assert_eq!(
            seconds("2021-02-03T06:05:06.000000001+02:00"),
            Some((1_612_325_106, 1))
        );
        assert_eq!(
            seconds("2021-02-03T03:05:06-01:00"),
            Some((1_612_325_106, 0))
        );
        assert_eq!(seconds("2024-02-29T00:00:00Z"), Some((1_709_164_800, 0)));
    }

    #[test]
    fn refuses_malformed_dates() {
        for bad in [
            "",
            "2021-02-03",
            "2021-02-03T04:05:06",
            "2021-13-03T04:05:06Z",
            "2023-02-29T04:05:06Z",
            "2021-02-03T24:05:06Z",
            "2021-02-03T04:05:06.Z",
            "2021-02-03T04:05:06.1234567890Z",
            "2021-02-03T04:05:06+0200",
            "2021-02-03T04:05:06Zjunk",
            "1969-12-31T23:59:59Z",
            "+021-02-03T04:05:06Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
