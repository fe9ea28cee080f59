//! RFC 3339 time stamps, as every time in the control API's JSON is written.

/// Formats Unix milliseconds as RFC 3339 in UTC with milliseconds, e.g.
/// `2026-11-25T22:10:29.123Z`.
///
/// Days are converted with Howard Hinnant's `civil_from_days` algorithm, which is exact for
/// every date a `u64` of milliseconds can name after 1970.
pub fn format_rfc3339_ms(unix_ms: u64) -> String {
    let millis = unix_ms % 1000;
    let secs = unix_ms / 1000;
    let (hour, minute, second) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let days = secs / 86_400;
    // civil_from_days, shifted so that the era starts on 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::format_rfc3339_ms;

    #[test]
    fn known_instants_format_exactly() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_ms(1_795_644_629_123),
            "2026-11-25T22:10:29.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(4_102_444_799_999),
            "2099-12-31T23:59:59.999Z"
        );
    }
}
