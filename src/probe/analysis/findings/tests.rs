//! The findings table: every rule from its signature, healthy runs quiet.

use super::*;

/// `n` arrivals of `bytes`, `gap_ms` apart, from `from_ms`.
fn steady(from_ms: u64, n: u64, bytes: u32, gap_ms: u64) -> Vec<Arrival> {
    (0..n)
        .map(|i| Arrival {
            t_offset_ns: (from_ms + i * gap_ms) * 1_000_000,
            bytes,
        })
        .collect()
}

fn facts(tl: &[Arrival]) -> Facts<'_> {
    let bytes = tl.iter().map(|a| a.bytes as u64).sum();
    let last = tl.last().map(|a| a.t_offset_ns as f64 / 1e9);
    Facts {
        outcome: OutcomeKind::Complete,
        status: Some(200),
        error_body: "",
        response_headers: &[],
        request_header_names: vec![],
        signed: false,
        segmented: false,
        bytes,
        duration_s: last.unwrap_or(0.1) + 0.01,
        headers_s: Some(0.01),
        first_byte_s: tl.first().map(|a| a.t_offset_ns as f64 / 1e9),
        last_arrival_s: last,
        arrivals: tl.len() as u64,
        median_arrival_bytes: tl.first().map(|a| a.bytes),
        http1: true,
        delivery: crate::probe::analysis::figures::delivery(tl, bytes),
        length_announced: true,
        remapped_length: false,
        digest_known: true,
        timeline: tl,
        throttled: 0,
        segments_asked: None,
        settled_concurrency: None,
    }
}

fn ids(f: &Facts<'_>) -> Vec<&'static str> {
    evaluate(f, &Limits::AWS).iter().map(|x| x.id).collect()
}

#[test]
fn every_rule_is_listed_under_its_own_id() {
    let mut seen = std::collections::HashSet::new();
    for (id, _) in RULES {
        assert!(seen.insert(id), "{id} twice");
    }
}

/// Each signature, as plain facts, fires its rule and no other error or warning.
#[test]
fn signatures_table() {
    let mib = MIB as u32;
    // 20 MiB in 64 KiB arrivals: 10 MiB at 320 MB/s, then 2 MB/s.
    let mut knee10 = steady(10, 160, 64 * 1024, 1);
    knee10.extend(steady(200, 160, 64 * 1024, 33));
    // 150 MiB after the knee: the average after 6 MiB is then ~2 MB/s too.
    let mut knee10_long = steady(10, 160, 64 * 1024, 1);
    knee10_long.extend(steady(200, 2400, 64 * 1024, 33));
    let mut knee6 = steady(10, 96, 64 * 1024, 1);
    knee6.extend(steady(140, 100, 64 * 1024, 33));
    let slow = steady(10, 300, 64 * 1024, 100); // 19.7 MB over 30 s
    type Edit = Box<dyn Fn(&mut Facts<'_>)>;
    let rows: Vec<(&str, Vec<Arrival>, Edit, Vec<&str>)> = vec![
        (
            "a healthy download",
            steady(10, 50, mib / 4, 20),
            Box::new(|_| {}),
            vec![],
        ),
        (
            "ranges that waited out 429s",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| {
                f.segmented = true;
                f.throttled = 7;
                f.segments_asked = Some(20);
                f.settled_concurrency = Some(4);
            }),
            vec!["usage-plan-too-tight"],
        ),
        (
            "a final 429 is the throttled-429 error, not this warning",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(429);
                f.throttled = 12;
                f.error_body = r#"{"message":"Too Many Requests"}"#;
            }),
            vec!["throttled-429"],
        ),
        (
            "500 from the gateway: a STREAM method whose function did not stream",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(500);
                f.error_body = r#"{"message":"Internal server error"}"#;
            }),
            vec!["integration-refused-500"],
        ),
        (
            "502 from the gateway",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(502);
                f.error_body = r#"{"message":"Internal server error"}"#;
            }),
            vec!["integration-failed-502"],
        ),
        (
            "a 502 from the origin that is not API Gateway's",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(502);
                f.error_body = "<html>Bad Gateway</html>";
            }),
            vec![],
        ),
        (
            "504 at 29 s",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(504);
                f.error_body = r#"{"message": "Endpoint request timed out"}"#;
                f.headers_s = Some(29.05);
                f.duration_s = 29.06;
            }),
            vec!["integration-timeout-504"],
        ),
        (
            "a stream cut at 29 s",
            slow.clone(),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = 29.1;
            }),
            vec!["stream-cut-at-default-timeout"],
        ),
        (
            "parallel ranges whose interleaved timeline ends near 29 s are no cut",
            slow.clone(),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = 29.1;
                f.segmented = true;
            }),
            vec![],
        ),
        (
            "a stream cut at 15 min",
            slow.clone(),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = 900.2;
                f.last_arrival_s = Some(900.1);
            }),
            vec!["stream-cut-at-max-duration"],
        ),
        (
            "a stream cut after 30 s of silence",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = f.last_arrival_s.unwrap() + 30.1;
            }),
            vec!["stream-cut-after-silence"],
        ),
        (
            "a stream cut after 5 min of silence",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = f.last_arrival_s.unwrap() + 301.0;
            }),
            vec!["stream-cut-after-silence"],
        ),
        (
            "a stall the client gave up on is not a gateway cut",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| {
                f.outcome = OutcomeKind::Stalled;
                f.duration_s = f.last_arrival_s.unwrap() + 30.0;
            }),
            vec![],
        ),
        (
            "a cut at the function's default 3 s",
            steady(10, 20, 64 * 1024, 140),
            Box::new(|f| {
                f.outcome = OutcomeKind::Truncated;
                f.duration_s = 3.05;
            }),
            vec!["function-default-timeout"],
        ),
        (
            "a cut at Lambda's 200 MB",
            steady(10, 200, mib, 10),
            Box::new(|f| f.outcome = OutcomeKind::Truncated),
            vec!["lambda-stream-size-cap"],
        ),
        (
            "the Lambda error text",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| f.outcome = OutcomeKind::LambdaStreamError),
            vec!["lambda-error-in-body"],
        ),
        (
            "everything at the end",
            steady(2900, 100, 64 * 1024, 1),
            Box::new(|_| {}),
            vec!["buffered-burst"],
        ),
        (
            "a wrong stage",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(403);
                f.error_body = r#"{"message":"Missing Authentication Token"}"#;
            }),
            vec!["missing-authentication-token"],
        ),
        (
            "no API key",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(403);
                f.error_body = r#"{"message":"Forbidden"}"#;
            }),
            vec!["api-key-refused"],
        ),
        (
            "a signature made with the wrong secret",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(403);
                f.signed = true;
                f.error_body = r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#;
            }),
            vec!["iam-signature-refused"],
        ),
        (
            "a stale signature",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(403);
                f.signed = true;
                f.error_body = r#"{"message":"Signature expired: 20261129T120000Z is now earlier than 20261129T120100Z (20261129T120600Z - 5 min.)"}"#;
            }),
            vec!["iam-signature-refused"],
        ),
        (
            "a quota spent",
            vec![],
            Box::new(|f| {
                f.outcome = OutcomeKind::HttpError;
                f.status = Some(429);
                f.error_body = r#"{"message":"Limit Exceeded"}"#;
            }),
            vec!["throttled-429"],
        ),
        (
            "the 10 MB knee",
            knee10,
            Box::new(|_| {}),
            vec!["apigw-throttle-knee"],
        ),
        (
            "the 10 MB knee before a long throttled tail",
            knee10_long,
            Box::new(|_| {}),
            vec!["apigw-throttle-knee"],
        ),
        (
            "a 6 MB knee",
            knee6,
            Box::new(|_| {}),
            vec!["lambda-throttle-knee"],
        ),
        (
            "a remapped length",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| f.remapped_length = true),
            vec!["remapped-content-length"],
        ),
        (
            "no length, no digest",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| {
                f.length_announced = false;
                f.digest_known = false;
            }),
            vec!["unverifiable-download"],
        ),
        (
            "a digest but no length is verifiable",
            steady(10, 50, mib / 4, 20),
            Box::new(|f| f.length_announced = false),
            vec![],
        ),
        (
            "small HTTP/1.1 arrivals",
            steady(10, 400, 4096, 5),
            Box::new(|_| {}),
            vec!["small-arrivals"],
        ),
        (
            "small HTTP/2 frames are how h2 comes",
            steady(10, 400, 8192, 5),
            Box::new(|f| f.http1 = false),
            vec![],
        ),
        (
            "a late first byte, then a steady stream",
            steady(1500, 100, 64 * 1024, 30),
            Box::new(|_| {}),
            vec!["late-first-byte"],
        ),
    ];
    for (what, tl, edit, want) in rows {
        let mut f = facts(&tl);
        edit(&mut f);
        let got = ids(&f);
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        let mut want_sorted = want.clone();
        want_sorted.sort_unstable();
        assert_eq!(got_sorted, want_sorted, "{what}");
    }
}

#[test]
fn evidence_quotes_the_run() {
    let tl = steady(10, 300, 64 * 1024, 100);
    let mut f = facts(&tl);
    f.outcome = OutcomeKind::Truncated;
    f.duration_s = 29.1;
    let found = evaluate(&f, &Limits::AWS);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].evidence.contains("29.1 s"),
        "{}",
        found[0].evidence
    );
    assert!(
        found[0].evidence.contains("19.7 MB"),
        "{}",
        found[0].evidence
    );
    // The same facts against scaled limits (as the emulation tests use) are quiet.
    let scaled = Limits {
        default_integration_timeout_s: 2.9,
        ..Limits::AWS
    };
    assert!(evaluate(&f, &scaled).is_empty());
}
