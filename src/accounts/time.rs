//! Time as the accounts keep it: Unix seconds, printed as UTC.

use crate::observe::access_log::civil_date;

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Unix seconds (on or after 1970) as `2026-12-08T03:00:00Z`.
pub fn iso_time(unix: i64) -> String {
    let unix = u64::try_from(unix).unwrap_or(0);
    let (year, month, day) = civil_date(unix / 86_400);
    let seconds = unix % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The UTC day of Unix time `at`, as `YYYY-MM-DD`.
pub fn day_of(at: i64) -> String {
    iso_time(at)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(1_796_695_200), "2026-12-08T02:00:00Z");
    }
}
