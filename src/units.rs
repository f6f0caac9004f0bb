//! Byte sizes, rates and instants as people type and read them.

use thiserror::Error;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a size: use a whole number of bytes, optionally with B, KiB, MiB, GiB, KB, MB or GB (e.g. 50MiB)"
)]
pub struct SizeError(pub String);

/// Parses `50MiB`, `10MB`, `1.5GiB`, `1048576`, `1048576B` (case-insensitive units).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let err = || SizeError(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        _ => return Err(err()),
    };
    if num.is_empty() {
        return Err(err());
    }
    if let Some((whole, frac)) = num.split_once('.') {
        // Fractions only make sense with a unit, and must come out as whole bytes.
        if mult == 1 || frac.contains('.') || frac.is_empty() || frac.len() > 9 {
            return Err(err());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let frac_digits: u64 = frac.parse().map_err(|_| err())?;
        let scale = 10u64.pow(frac.len() as u32);
        let frac_bytes = (frac_digits as u128 * mult as u128) / scale as u128;
        let exact = (frac_digits as u128 * mult as u128).is_multiple_of(scale as u128);
        if !exact {
            return Err(err());
        }
        return whole
            .checked_mul(mult)
            .and_then(|w| w.checked_add(frac_bytes as u64))
            .ok_or_else(err);
    }
    let n: u64 = num.parse().map_err(|_| err())?;
    n.checked_mul(mult).ok_or_else(err)
}

/// `52.4 MB` (decimal units, as throughput and AWS's limits are quoted).
pub fn fmt_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// `50 MiB`, `10 MiB + 1 B`-style binary size, exact when it is a whole number of units.
pub fn fmt_size_binary(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes >= MIB {
        format!("{:.2} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// `3.12 MB/s` (decimal megabytes per second).
pub fn fmt_rate(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() {
        return "–".to_string();
    }
    if bytes_per_sec >= 1e9 {
        format!("{:.2} GB/s", bytes_per_sec / 1e9)
    } else if bytes_per_sec >= 1e6 {
        format!("{:.2} MB/s", bytes_per_sec / 1e6)
    } else if bytes_per_sec >= 1e3 {
        format!("{:.1} kB/s", bytes_per_sec / 1e3)
    } else {
        format!("{bytes_per_sec:.0} B/s")
    }
}

/// UTC RFC 3339 with milliseconds: `2025-11-24T16:00:00.123Z`.
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(t)
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("1B").unwrap(), 1);
        assert_eq!(parse_size("50MiB").unwrap(), 50 * MIB);
        assert_eq!(parse_size("50mib").unwrap(), 50 * MIB);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("2 KB").unwrap(), 2_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 * GIB / 2);
        assert_eq!(parse_size("16GiB").unwrap(), 16 * GIB);
    }

    #[test]
    fn bad_sizes_are_errors() {
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5",
            "1.5B",
            "1.0000000001MiB",
            "12XB",
            "1e9",
            "99999999999999999999",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn formats_are_readable() {
        assert_eq!(fmt_bytes(52_400_000), "52.4 MB");
        assert_eq!(fmt_size_binary(50 * MIB), "50 MiB");
        assert_eq!(fmt_rate(2_000_000.0), "2.00 MB/s");
    }

    #[test]
    fn dates_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_123);
        assert_eq!(rfc3339_utc(t), "2025-11-24T16:00:00.123Z");
    }
}
