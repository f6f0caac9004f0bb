//! What the probes' results say, as pure functions of plain facts: where the stream's rate drops
//! (its knees) and the rates after them, what became of the function's Content-Length, how a
//! mid-stream failure reached the client, which headers the gateway added.

use crate::emulator::profile::{ContentLength, MidStreamError};

/// Where a stream's rate dropped, and the rate after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knee {
    /// Bytes sent before the drop.
    pub at: f64,
    /// Bytes per second after it.
    pub rate_after: f64,
}

/// A line `bytes = a + rate * t` fitted by least squares.
#[derive(Debug, Clone, Copy)]
struct Line {
    a: f64,
    rate: f64,
}

impl Line {
    fn at(self, t: f64) -> f64 {
        self.a + self.rate * t
    }
}

fn fit(points: &[(f64, f64)]) -> Option<Line> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let (st, sb) = points
        .iter()
        .fold((0.0, 0.0), |(st, sb), (t, b)| (st + t, sb + b));
    let (mt, mb) = (st / n, sb / n);
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, b) in points {
        cov += (t - mt) * (b - mb);
        var += (t - mt) * (t - mt);
    }
    if var <= 0.0 {
        return None;
    }
    let rate = cov / var;
    Some(Line {
        a: mb - rate * mt,
        rate,
    })
}

/// The smallest stretch of time a rate is measured over, seconds.
const MIN_SPAN_S: f64 = 0.5;
/// A drop counts when the rate before is at least this many times the rate after.
const MIN_DROP: f64 = 1.25;

/// The knees of a download, first to last, from its cumulative arrivals `(seconds, bytes)`:
/// the last stretch of the curve is fitted with a line (its rate); walking back, the first
/// point that falls more than a tolerance below that line ends the stretch, and the line's value
/// there is where the rate dropped. The part before is searched the same way.
pub fn knees(cumulative: &[(f64, f64)]) -> Vec<Knee> {
    let mut found = Vec::new();
    let mut points = cumulative;
    while let Some((knee, before)) = last_knee(points) {
        found.push(knee);
        points = &points[..before];
    }
    found.reverse();
    found
}

/// The last knee in `points` and how many points come before it.
fn last_knee(points: &[(f64, f64)]) -> Option<(Knee, usize)> {
    let (t0, t1) = (points.first()?.0, points.last()?.0);
    if t1 - t0 < MIN_SPAN_S * 2.0 {
        return None;
    }
    // The last 30% of the time: the stream's final rate.
    let from = t1 - (t1 - t0) * 0.3;
    let tail: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.0 >= from).collect();
    let line = fit(&tail)?;
    if line.rate <= 0.0 {
        return None;
    }
    // Pacing sends bytes in slices (the emulation's 20 ms, a runtime's 64 KiB writes): the
    // tolerance is 50 ms of the rate, at least 48 KiB.
    let tol = (line.rate * 0.05).max(48.0 * 1024.0);
    let on_line = points
        .iter()
        .rposition(|&(t, b)| b < line.at(t) - tol)
        .map_or(0, |i| i + 1);
    if on_line == 0 || on_line >= points.len() {
        return None;
    }
    let (t_k, _) = points[on_line];
    let at = line.at(t_k);
    // What came before must have been faster, and long enough to count.
    let (tb, bb) = points[on_line - 1];
    let rate_before = (bb - points[0].1) / (tb - t0).max(1e-3);
    let before_fast = at > 0.0 && (rate_before >= line.rate * MIN_DROP || tb - t0 < MIN_SPAN_S);
    if !before_fast || t1 - t_k < MIN_SPAN_S {
        return None;
    }
    Some((
        Knee {
            at,
            rate_after: line.rate,
        },
        on_line,
    ))
}

/// The cumulative curve of arrivals `(ns from the request, bytes)`.
pub fn cumulative(arrivals: &[(u64, u32)]) -> Vec<(f64, f64)> {
    let mut total = 0.0;
    arrivals
        .iter()
        .map(|&(t, b)| {
            total += f64::from(b);
            (t as f64 / 1e9, total)
        })
        .collect()
}

/// What the gateway did with the function's `Content-Length: sent`, from the response headers.
pub fn content_length(headers: &[(String, String)], sent: u64) -> Option<ContentLength> {
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    match (
        value("content-length"),
        value("x-amzn-remapped-content-length"),
    ) {
        (Some(n), _) if n == sent => Some(ContentLength::Keep),
        (_, Some(n)) if n == sent => Some(ContentLength::Remap),
        (None, None) => Some(ContentLength::Drop),
        // A length that is not the function's: not a choice the profile knows.
        _ => None,
    }
}

/// How a function's failure after `sent_before` bytes reached the client: the connection broke
/// (cut), or the body ended as if complete (clean end). None when the failure did not show (all
/// bytes arrived, or none).
pub fn mid_stream_error(
    connection_broke: bool,
    bytes: u64,
    sent_before: u64,
) -> Option<MidStreamError> {
    if bytes < sent_before / 2 {
        return None;
    }
    Some(if connection_broke {
        MidStreamError::Cut
    } else {
        MidStreamError::CleanEnd
    })
}

/// The `x-amz…` headers of a response that the function did not set itself (the backend sets
/// none of them), sorted: what the gateway adds.
pub fn added_headers(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| n.starts_with("x-amz") && n != "x-amzn-remapped-content-length")
        .filter(|n| n != "x-amzn-errortype")
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that sends `head` bytes at once, then `rate` bytes/s (in 20 ms slices) up to
    /// `knee2`, then `rate2` to `total`.
    fn shaped(head: f64, rate: f64, knee2: f64, rate2: f64, total: f64) -> Vec<(f64, f64)> {
        let mut pts = vec![(0.001, head * 0.5), (0.002, head)];
        let (mut t, mut b) = (0.002, head);
        while b < total {
            let r = if b < knee2 { rate } else { rate2 };
            t += 0.02;
            b = (b + r * 0.02).min(total);
            pts.push((t, b));
        }
        pts
    }

    #[test]
    fn knees_are_found_where_the_rate_drops() {
        let mib = 1024.0 * 1024.0;
        let cases = [
            // (head, rate, second knee, rate after, total), expected knees
            (
                (6.0 * mib, 2.0 * mib, f64::MAX, 2.0 * mib, 16.0 * mib),
                vec![(6.0 * mib, 2.0 * mib)],
            ),
            ((10e6, 2e6, f64::MAX, 2e6, 16.0 * mib), vec![(10e6, 2e6)]),
            (
                (6e6, 4e6, 10.0 * mib, 1.5e6, 16.0 * mib),
                vec![(6e6, 4e6), (10.0 * mib, 1.5e6)],
            ),
        ];
        for ((head, rate, k2, rate2, total), want) in cases {
            let got = knees(&shaped(head, rate, k2, rate2, total));
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, (at, r)) in got.iter().zip(want) {
                assert!((g.at - at).abs() / at < 0.01, "knee {} vs {at}", g.at);
                assert!(
                    (g.rate_after - r).abs() / r < 0.02,
                    "rate {} vs {r}",
                    g.rate_after
                );
            }
        }
        // A steady stream has none; so has one too short to say.
        let steady: Vec<(f64, f64)> = (1..300)
            .map(|i| (i as f64 * 0.01, i as f64 * 20_000.0))
            .collect();
        assert!(knees(&steady).is_empty());
        assert!(knees(&[(0.001, 1.0), (0.002, 2.0)]).is_empty());
    }

    #[test]
    fn what_became_of_the_content_length() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let cases = [
            (h(&[("Content-Length", "100")]), Some(ContentLength::Keep)),
            (
                h(&[("x-amzn-remapped-content-length", "100")]),
                Some(ContentLength::Remap),
            ),
            (h(&[("content-type", "x")]), Some(ContentLength::Drop)),
            (h(&[("content-length", "7")]), None),
        ];
        for (headers, want) in cases {
            assert_eq!(content_length(&headers, 100), want, "{headers:?}");
        }
    }

    #[test]
    fn a_failure_is_a_cut_or_a_clean_end() {
        assert_eq!(
            mid_stream_error(true, 1_048_576, 1_048_576),
            Some(MidStreamError::Cut)
        );
        assert_eq!(
            mid_stream_error(false, 1_048_576, 1_048_576),
            Some(MidStreamError::CleanEnd)
        );
        assert_eq!(
            mid_stream_error(true, 0, 1_048_576),
            None,
            "nothing arrived"
        );
    }

    #[test]
    fn added_headers_are_the_gateways() {
        let h: Vec<(String, String)> = [
            "X-Amzn-RequestId",
            "x-amz-apigw-id",
            "content-type",
            "x-amzn-remapped-content-length",
            "x-amzn-trace-id",
        ]
        .iter()
        .map(|n| (n.to_string(), "v".to_string()))
        .collect();
        assert_eq!(
            added_headers(&h),
            ["x-amz-apigw-id", "x-amzn-requestid", "x-amzn-trace-id"]
        );
    }
}
