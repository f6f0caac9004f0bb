//! What a response announces about its body: the length, and a digest to verify it against.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::header::HeaderMap;
use serde::Serialize;

/// Where the expected SHA-256 came from, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum DigestSource {
    /// Given by the user: wins over anything the server says.
    #[serde(rename = "user")]
    User,
    /// RFC 9530 `Repr-Digest: sha-256=:<base64>:`.
    #[serde(rename = "repr-digest")]
    ReprDigest,
    /// S3's full-object `x-amz-checksum-sha256` (base64).
    #[serde(rename = "x-amz-checksum-sha256")]
    AmzChecksumSha256,
}

impl DigestSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestSource::User => "user",
            DigestSource::ReprDigest => "repr-digest",
            DigestSource::AmzChecksumSha256 => "x-amz-checksum-sha256",
        }
    }
}

/// The header that announced the body's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum LengthSource {
    #[serde(rename = "content-length")]
    ContentLength,
    /// What a Lambda function URL puts in place of the function's own Content-Length.
    #[serde(rename = "x-amzn-remapped-content-length")]
    RemappedContentLength,
}

impl LengthSource {
    pub fn header(self) -> &'static str {
        match self {
            LengthSource::ContentLength => "content-length",
            LengthSource::RemappedContentLength => "x-amzn-remapped-content-length",
        }
    }
}

/// A digest the body must match, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedDigest {
    pub sha256: [u8; 32],
    pub source: DigestSource,
}

/// A length the body must have, and which header said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedLength {
    pub bytes: u64,
    pub source: LengthSource,
}

/// The digest to verify against: the user's, else `Repr-Digest`, else a full-object
/// `x-amz-checksum-sha256`. A 206 has none from the server: those describe the whole
/// representation, not the range.
pub fn expected_digest(
    user: Option<[u8; 32]>,
    headers: &HeaderMap,
    status: u16,
    continues_file: bool,
) -> Option<ExpectedDigest> {
    let found = |sha256, source| Some(ExpectedDigest { sha256, source });
    if let Some(d) = user {
        return found(d, DigestSource::User);
    }
    if status == 206 {
        // A range of the object is not the object: only when it completes a file that holds the
        // rest does the representation's digest (RFC 9530 Repr-Digest) apply. S3's checksum
        // headers describe the bytes sent, so they do not.
        return headers
            .get("repr-digest")
            .and_then(|v| parse_repr_digest(v.as_bytes()))
            .filter(|_| continues_file)
            .and_then(|d| found(d, DigestSource::ReprDigest));
    }
    if let Some(d) = headers
        .get("repr-digest")
        .and_then(|v| parse_repr_digest(v.as_bytes()))
    {
        return found(d, DigestSource::ReprDigest);
    }
    let composite = headers
        .get("x-amz-checksum-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
    if !composite
        && let Some(d) = headers
            .get("x-amz-checksum-sha256")
            .and_then(|v| v.to_str().ok())
            .and_then(decode_b64_sha256)
    {
        return found(d, DigestSource::AmzChecksumSha256);
    }
    None
}

/// The `sha-256` member of an RFC 9530 `Repr-Digest` dictionary (a Structured Field, RFC 9651).
pub fn parse_repr_digest(value: &[u8]) -> Option<[u8; 32]> {
    let dict: sfv::Dictionary = sfv::Parser::new(value).parse().ok()?;
    match dict.get("sha-256")? {
        sfv::ListEntry::Item(sfv::Item {
            bare_item: sfv::BareItem::ByteSequence(bytes),
            ..
        }) => bytes.as_slice().try_into().ok(),
        _ => None,
    }
}

/// S3 checksums are plain base64; composite multipart ones (`<b64>-<parts>`) do not decode.
fn decode_b64_sha256(b64: &str) -> Option<[u8; 32]> {
    B64.decode(b64.trim()).ok()?.try_into().ok()
}

/// `Content-Length`, else `x-amzn-remapped-content-length`.
pub fn expected_length(headers: &HeaderMap) -> Option<ExpectedLength> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    let found = |bytes, source| ExpectedLength { bytes, source };
    num("content-length")
        .map(|n| found(n, LengthSource::ContentLength))
        .or_else(|| {
            num("x-amzn-remapped-content-length")
                .map(|n| found(n, LengthSource::RemappedContentLength))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_digest_parses_as_a_structured_dictionary() {
        let d = [7u8; 32];
        let v = format!("sha-512=:AAAA:, sha-256=:{}:", B64.encode(d));
        assert_eq!(parse_repr_digest(v.as_bytes()), Some(d));
        let with_params = format!("sha-256=:{}:;x=1", B64.encode(d));
        assert_eq!(parse_repr_digest(with_params.as_bytes()), Some(d));
        assert_eq!(parse_repr_digest(b"sha-256=:bm90MzJieXRlcw==:"), None);
        assert_eq!(parse_repr_digest(b"md5=:abc:"), None);
        assert_eq!(parse_repr_digest(b"sha-256=\"not bytes\""), None);
        assert_eq!(parse_repr_digest(b"garbage ,, ="), None);
    }

    #[test]
    fn digest_precedence() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-checksum-sha256",
            B64.encode([2u8; 32]).parse().unwrap(),
        );
        let src = |d: Option<ExpectedDigest>| d.map(|d| (d.sha256[0], d.source));
        assert_eq!(
            src(expected_digest(None, &h, 200, false)),
            Some((2, DigestSource::AmzChecksumSha256))
        );
        h.insert(
            "repr-digest",
            format!("sha-256=:{}:", B64.encode([3u8; 32]))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            src(expected_digest(None, &h, 200, false)),
            Some((3, DigestSource::ReprDigest))
        );
        assert_eq!(
            src(expected_digest(Some([1u8; 32]), &h, 200, false)),
            Some((1, DigestSource::User))
        );
        assert_eq!(expected_digest(None, &h, 206, false), None, "a range alone");
        assert_eq!(
            src(expected_digest(None, &h, 206, true)),
            Some((3, DigestSource::ReprDigest)),
            "a range that completes the file"
        );
        let mut c = HeaderMap::new();
        c.insert(
            "x-amz-checksum-sha256",
            B64.encode([2u8; 32]).parse().unwrap(),
        );
        c.insert("x-amz-checksum-type", "COMPOSITE".parse().unwrap());
        assert_eq!(expected_digest(None, &c, 200, false), None);
    }

    #[test]
    fn length_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(expected_length(&h), None);
        h.insert("x-amzn-remapped-content-length", "12".parse().unwrap());
        assert_eq!(
            expected_length(&h),
            Some(ExpectedLength {
                bytes: 12,
                source: LengthSource::RemappedContentLength
            })
        );
        h.insert("content-length", "9".parse().unwrap());
        assert_eq!(expected_length(&h).map(|l| l.bytes), Some(9));
    }
}
