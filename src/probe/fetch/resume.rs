//! Continuing a download: what a `.part` already holds (hashed before the clock starts, so the
//! final digest covers the whole file), what the object looked like when those bytes came (kept
//! beside the `.part` as `FILE.part.resume`, JSON: the ETag and Last-Modified, never a URL or a
//! header value), and whether a response continues it ([`continues`], a pure function with a
//! table test).

use super::outcome::IoFailure;
use super::range::{self, Asked, RangeRefusal};
use super::request::ValidRequest;
use super::result::ResponseMeta;
use super::sink::{self, Prefix};
use std::path::PathBuf;

/// `FILE.part.resume`.
pub fn sidecar(req: &ValidRequest) -> PathBuf {
    super::request::resume_path(&req.part)
}

/// What an existing `.part` holds: its bytes hashed, and the validator saved with it. No
/// `.part`: a fresh start (as curl's `-C -` starts from zero).
pub async fn start_from_part(req: &ValidRequest) -> Result<Start, IoFailure> {
    let part = req.part.clone();
    let hashed = tokio::task::spawn_blocking(move || match crate::disk::open_read(&part)? {
        Some(mut f) => Prefix::of_file(&mut f).map(Some),
        None => Ok(None),
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let prefix = hashed.map_err(|e| IoFailure {
        doing: format!("reading {} to resume", req.part.display()),
        error: e.to_string(),
    })?;
    let Some(prefix) = prefix else {
        return Ok(Start::fresh());
    };
    // An ETag and a date: a few hundred bytes (anything larger was not written by us).
    let validator = crate::disk::read_side_file(&sidecar(req), 64 * 1024)
        .and_then(|b| serde_json::from_slice::<Validator>(&b).ok());
    Ok(Start {
        prefix,
        validator,
        until: None,
    })
}

/// Keeps what identifies the object beside a `.part` left behind (best effort: without it a
/// resume still works, only unchecked against a changed object).
pub fn leave_part(req: &ValidRequest, validator: Option<&Validator>) {
    match validator.filter(|v| v.etag.is_some() || v.last_modified.is_some()) {
        Some(v) => {
            let written = serde_json::to_vec(v)
                .map_err(std::io::Error::other)
                .and_then(|json| {
                    use std::io::Write;
                    crate::disk::create_fresh(&sidecar(req))?.write_all(&json)
                });
            if written.is_err() {
                // A full disk: no half-written note beside the .part.
                std::fs::remove_file(sidecar(req)).ok();
            }
        }
        None => {
            std::fs::remove_file(sidecar(req)).ok();
        }
    }
}

/// The download is saved: nothing to resume.
pub fn forget_part(req: &ValidRequest) {
    std::fs::remove_file(sidecar(req)).ok();
}

/// Whether `meta` continues the file `start` describes: nothing to check for a fresh start;
/// otherwise a 206 from the first missing byte, of the same version of the object. An error
/// status is for the caller to report as such.
pub fn continues(start: &Start, meta: &ResponseMeta) -> Result<(), RangeRefusal> {
    let have = start.prefix.bytes;
    // A fresh start takes anything; an error status is reported as such (416 is the range's).
    if have == 0 || !((200..300).contains(&meta.status) || meta.status == 416) {
        return Ok(());
    }
    let asked = Asked {
        from: have,
        to: start.until,
        total: None,
    };
    range::check(meta.status, meta.header("content-range"), asked)?;
    match &start.validator {
        Some(was) => was.still(&Validator::of(meta)),
        None => Ok(()),
    }
}

/// Where an attempt starts: what the `.part` already holds, and what the object looked like
/// when those bytes came.
pub struct Start {
    pub prefix: sink::Prefix,
    pub validator: Option<Validator>,
    /// Ask only up to this byte (inclusive): a segment of a parallel download.
    pub until: Option<u64>,
}

impl Start {
    pub fn fresh() -> Start {
        Start {
            prefix: sink::Prefix::default(),
            validator: None,
            until: None,
        }
    }

    /// The request asks for a range (the rest of a file, or a segment).
    pub fn asks_range(&self) -> bool {
        self.prefix.bytes > 0 || self.until.is_some()
    }
}

/// What identifies the object's version: its ETag, else its Last-Modified.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Validator {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validator {
    pub fn of(meta: &ResponseMeta) -> Validator {
        Validator {
            etag: meta.header("etag").map(str::to_string),
            last_modified: meta.header("last-modified").map(str::to_string),
        }
    }

    pub fn of_headers(headers: &reqwest::header::HeaderMap) -> Validator {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Validator {
            etag: get(reqwest::header::ETAG),
            last_modified: get(reqwest::header::LAST_MODIFIED),
        }
    }

    /// Whether `now` names the same version of the object: the ETags agree, or (without ETags)
    /// the dates do. What is missing on either side is not a change.
    pub fn still(&self, now: &Validator) -> Result<(), RangeRefusal> {
        let changed =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if changed(&self.etag, &now.etag) {
            return Err(RangeRefusal::Changed {
                what: "ETag",
                now: now.etag.clone().unwrap_or_default(),
                was: self.etag.clone().unwrap_or_default(),
            });
        }
        if self.etag.is_none() && changed(&self.last_modified, &now.last_modified) {
            return Err(RangeRefusal::Changed {
                what: "Last-Modified",
                now: now.last_modified.clone().unwrap_or_default(),
                was: self.last_modified.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The `If-Range` value: a strong ETag, else the date (RFC 9110 13.1.5).
    pub fn if_range(&self) -> Option<&str> {
        self.etag
            .as_deref()
            .filter(|e| !e.starts_with("W/"))
            .or(self.last_modified.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fetch::phases::Phases;
    use crate::probe::fetch::result::WireVersion;

    fn meta(status: u16, headers: &[(&str, &str)]) -> ResponseMeta {
        ResponseMeta {
            url: reqwest::Url::parse("http://127.0.0.1/x").unwrap(),
            phases: Phases::default(),
            status,
            version: WireVersion::Http11,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            headers_ns: 0,
            length: None,
            digest: None,
        }
    }

    fn start(bytes: u64, etag: Option<&str>) -> Start {
        Start {
            prefix: Prefix {
                bytes,
                hasher: Default::default(),
            },
            validator: etag.map(|e| Validator {
                etag: Some(e.to_string()),
                last_modified: None,
            }),
            until: None,
        }
    }

    #[test]
    fn continuation_table() {
        let rows: Vec<(&str, Start, ResponseMeta, bool)> = vec![
            (
                "a fresh start takes anything",
                start(0, None),
                meta(200, &[]),
                true,
            ),
            (
                "the rest, same ETag",
                start(100, Some("\"a\"")),
                meta(
                    206,
                    &[("content-range", "bytes 100-199/200"), ("etag", "\"a\"")],
                ),
                true,
            ),
            (
                "the rest, no validator kept",
                start(100, None),
                meta(206, &[("content-range", "bytes 100-199/200")]),
                true,
            ),
            ("the whole object", start(100, None), meta(200, &[]), false),
            ("nothing left", start(100, None), meta(416, &[]), false),
            (
                "another range",
                start(100, None),
                meta(206, &[("content-range", "bytes 0-199/200")]),
                false,
            ),
            (
                "a 206 without Content-Range",
                start(100, None),
                meta(206, &[]),
                false,
            ),
            (
                "a changed ETag",
                start(100, Some("\"a\"")),
                meta(
                    206,
                    &[("content-range", "bytes 100-199/200"), ("etag", "\"b\"")],
                ),
                false,
            ),
            (
                "an error is reported as one",
                start(100, None),
                meta(503, &[]),
                true,
            ),
            ("a 204", start(100, None), meta(204, &[]), false),
        ];
        for (what, s, m, ok) in rows {
            assert_eq!(
                continues(&s, &m).is_ok(),
                ok,
                "{what}: {:?}",
                continues(&s, &m)
            );
        }
    }

    #[test]
    fn if_range_prefers_a_strong_etag() {
        let v = |e: Option<&str>, d: Option<&str>| Validator {
            etag: e.map(str::to_string),
            last_modified: d.map(str::to_string),
        };
        let date = "Sun, 29 Nov 2026 12:00:00 GMT";
        assert_eq!(v(Some("\"x\""), Some(date)).if_range(), Some("\"x\""));
        assert_eq!(v(Some("W/\"x\""), Some(date)).if_range(), Some(date));
        assert_eq!(v(None, None).if_range(), None);
    }
}
