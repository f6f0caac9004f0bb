//! Range responses, checked once for every caller: a resumed `.part` (the rest of the object, from
//! its first missing byte) and each parallel range (exactly its bytes). Content-Range is read by
//! the `headers` crate.

use headers::Header;

/// A 206's `Content-Range`: its first and last byte (inclusive), and the object's size when
/// stated (`*` leaves it unknown). None when the header is not a satisfied byte range.
pub fn content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let v = reqwest::header::HeaderValue::from_str(value.trim()).ok()?;
    let cr = headers::ContentRange::decode(&mut std::iter::once(&v)).ok()?;
    let (first, last) = cr.bytes_range()?;
    Some((first, last, cr.bytes_len()))
}

/// What a range request asked for: bytes `from` to `to` (inclusive; None: to the end) of an
/// object of `total` bytes (None: not known yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub from: u64,
    pub to: Option<u64>,
    pub total: Option<u64>,
}

impl Asked {
    fn label(&self) -> String {
        match self.to {
            Some(to) => format!("{}-{to}", self.from),
            None => format!("{}-", self.from),
        }
    }
}

/// Why a response does not continue what was asked, or does not fit the object it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeRefusal {
    #[error(
        "the server sent the whole object (200) when asked for bytes {0}: it ignores Range, or the object changed (If-Range)"
    )]
    WholeObject(String),
    #[error("the server cannot serve bytes {0} (416): the object is not that long")]
    NotThatLong(String),
    #[error("the server answered {0} to a range request")]
    Status(u16),
    #[error("a 206 without a usable Content-Range ({0})")]
    NoContentRange(String),
    #[error("the object's size changed: {now} bytes, was {was}")]
    SizeChanged { now: u64, was: u64 },
    #[error(
        "the server sent bytes {first}-{last} when asked for {asked}: ranges that do not fit would overlap or leave holes"
    )]
    Misfit {
        first: u64,
        last: u64,
        asked: String,
    },
    #[error("the first range did not say the object's size")]
    NoSize,
    #[error("the object changed: {what} {now}, was {was}")]
    Changed {
        what: &'static str,
        now: String,
        was: String,
    },
}

/// Whether a response with `status` and `content_range` is the 206 of exactly what was `asked`:
/// the whole object (200), a 416, another status, another or overlapping range, or another object
/// size are refused, each with the reason. Returns the object's size when the response states it.
pub fn check(
    status: u16,
    content_range_header: Option<&str>,
    asked: Asked,
) -> Result<Option<u64>, RangeRefusal> {
    match status {
        206 => {}
        200 => return Err(RangeRefusal::WholeObject(asked.label())),
        416 => return Err(RangeRefusal::NotThatLong(asked.label())),
        s => return Err(RangeRefusal::Status(s)),
    }
    let Some((first, last, size)) = content_range_header.and_then(content_range) else {
        return Err(RangeRefusal::NoContentRange(
            content_range_header.unwrap_or("none").to_string(),
        ));
    };
    if let (Some(known), Some(size)) = (asked.total, size)
        && known != size
    {
        return Err(RangeRefusal::SizeChanged {
            now: size,
            was: known,
        });
    }
    let size = asked.total.or(size);
    // The last byte asked for, within the object when its size is known.
    let want_last = asked
        .to
        .map(|to| size.map_or(to, |s| to.min(s.saturating_sub(1))));
    if first != asked.from || want_last.is_some_and(|w| w != last) {
        return Err(RangeRefusal::Misfit {
            first,
            last,
            asked: match want_last {
                Some(w) => format!("{}-{w}", asked.from),
                None => asked.label(),
            },
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_table() {
        type Row = (&'static str, Option<(u64, u64, Option<u64>)>);
        let rows: Vec<Row> = vec![
            ("bytes 0-9/10", Some((0, 9, Some(10)))),
            (" bytes 4-7/10 ", Some((4, 7, Some(10)))),
            ("bytes 4-7/*", Some((4, 7, None))),
            ("bytes */10", None),
            ("bytes 7-4/10", None),
            ("items 0-9/10", None),
            ("bytes 0-9", None),
            ("", None),
        ];
        for (v, want) in rows {
            assert_eq!(content_range(v), want, "{v:?}");
        }
    }

    #[test]
    fn ranges_table() {
        let a = |from, to, total| Asked { from, to, total };
        // (what, status, Content-Range, asked, the size or a refusal)
        type Row = (
            &'static str,
            u16,
            Option<&'static str>,
            Asked,
            Result<Option<u64>, ()>,
        );
        let rows: Vec<Row> = vec![
            (
                "exactly the range",
                206,
                Some("bytes 4-7/10"),
                a(4, Some(7), Some(10)),
                Ok(Some(10)),
            ),
            (
                "the last, short",
                206,
                Some("bytes 8-9/10"),
                a(8, Some(11), Some(10)),
                Ok(Some(10)),
            ),
            (
                "the first tells the size",
                206,
                Some("bytes 0-3/10"),
                a(0, Some(3), None),
                Ok(Some(10)),
            ),
            (
                "a small object whole",
                206,
                Some("bytes 0-2/3"),
                a(0, Some(3), None),
                Ok(Some(3)),
            ),
            (
                "the rest of a file",
                206,
                Some("bytes 100-199/200"),
                a(100, None, None),
                Ok(Some(200)),
            ),
            (
                "the rest, size unknown",
                206,
                Some("bytes 100-199/*"),
                a(100, None, None),
                Ok(None),
            ),
            ("the whole object", 200, None, a(0, Some(3), None), Err(())),
            ("416", 416, Some("bytes */10"), a(0, Some(3), None), Err(())),
            (
                "to the end instead",
                206,
                Some("bytes 4-9/10"),
                a(4, Some(7), Some(10)),
                Err(()),
            ),
            (
                "another start",
                206,
                Some("bytes 0-3/10"),
                a(4, Some(7), Some(10)),
                Err(()),
            ),
            (
                "another start of the rest",
                206,
                Some("bytes 0-199/200"),
                a(100, None, None),
                Err(()),
            ),
            (
                "another size",
                206,
                Some("bytes 4-7/12"),
                a(4, Some(7), Some(10)),
                Err(()),
            ),
            (
                "no Content-Range",
                206,
                None,
                a(4, Some(7), Some(10)),
                Err(()),
            ),
            ("an error", 503, None, a(4, Some(7), Some(10)), Err(())),
            ("a 204", 204, None, a(100, None, None), Err(())),
        ];
        for (what, status, cr, asked, want) in rows {
            let got = check(status, cr, asked).map_err(|_| ());
            assert_eq!(got, want, "{what}");
        }
    }
}
