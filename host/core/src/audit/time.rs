//! UTC timestamps as fixed-width RFC 3339 text (`2026-11-23T23:42:56.123Z`),
//! so that comparing two timestamps as strings compares them in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, formatted.
pub fn now() -> String {
    format(SystemTime::now())
}

/// Format a time (before 1970 is clamped to the epoch).
pub fn format(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// A `--since` that is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or an age such as 30m, 2h, 7d"
)]
pub struct NotATime(pub String);

/// Parse `--since`: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (UTC, optional
/// `Z`) or an age like `30m`, `2h`, `7d`. Returns the formatted lower bound.
pub fn parse_since(text: &str, now: SystemTime) -> Result<String, NotATime> {
    let bad = || NotATime(text.to_string());
    let text = text.trim();
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c)) {
        let n: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
        let secs = n.saturating_mul(match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        });
        let t = now
            .checked_sub(Duration::from_secs(secs))
            .unwrap_or(UNIX_EPOCH);
        return Ok(format(t));
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, clock) = text.split_once('T').unwrap_or((text, "00:00:00"));
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&c.len()) {
        return Err(bad());
    }
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (h, min) = (num(c[0])?, num(c[1])?);
    let s = c.get(2).map(|s| num(s)).transpose()?.unwrap_or(0);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || min > 59
        || s > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(y as i64, m as u32, day as u32);
    let secs = days as u64 * 86_400 + h * 3600 + min * 60 + s;
    Ok(format(UNIX_EPOCH + Duration::from_secs(secs)))
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_477_376_123);
        assert_eq!(format(t), "2026-11-23T23:42:56.123Z");
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            parse_since("2026-11-23", t).unwrap(),
            "2026-11-23T00:00:00.000Z"
        );
        assert_eq!(
            parse_since("2000-02-29T00:00Z", t).unwrap(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(parse_since("2h", t).unwrap(), "2026-11-23T21:42:56.123Z");
        for bad in ["yesterday", "2026-13-01", "2h30", "", "12:00"] {
            assert!(
                parse_since(bad, t)
                    .unwrap_err()
                    .to_string()
                    .contains("is not a time"),
                "{bad}"
            );
        }
    }
}
