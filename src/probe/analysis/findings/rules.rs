//! The rules, one function each: the run's facts in, a finding with its evidence and its fix
//! out, or nothing when the rule is not sure.

use super::{Facts, Finding, Limits, Severity};
use crate::probe::analysis::figures::Delivery;
use crate::probe::analysis::timeline::{Split, split_at};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::result::Arrival;
use crate::units::{fmt_bytes, fmt_rate};

/// `got` is within `tol` (a fraction) of `want`, give or take the 0.1 s a client's clock sees
/// beyond the server's (connection, flush, scheduling).
pub(super) fn near(got: f64, want: f64, tol: f64) -> bool {
    want > 0.0 && (got - want).abs() <= want * tol + MEASURE_SLACK_S
}

pub(super) const MEASURE_SLACK_S: f64 = 0.1;

pub(super) fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

pub(super) type Rule = fn(&Facts<'_>, &Limits) -> Option<Finding>;

pub(super) const RUNTIME_DOC: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html";
pub(super) const LAMBDA_STREAM_DOC: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html";
pub(super) const TROUBLESHOOT_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-streaming-troubleshoot.html";
pub(super) const LIMITS_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html";

pub(super) fn integration_failed_502(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(502) && f.error_body.contains("Internal server error")).then(|| Finding {
        id: "integration-failed-502",
        severity: Severity::Error,
        title: "API Gateway answered 502: the integration failed",
        evidence: format!(
            "HTTP 502 {} after {} ms{}",
            f.error_body.trim(),
            f.headers_s.map_or(0.0, |s| s * 1000.0).round(),
            f.cause()
        ),
        fix: "For a response over 10 MB: the method is BUFFERED — set the integration's responseTransferMode to STREAM with the 2021-11-15/functions/…/response-streaming-invocations URI; a Lambda function answering the buffered Invoke API also stops at 6 MB. Otherwise the function failed (an error, a crash, its timeout, no metadata prelude): read its logs for this request.",
        doc_url: RUNTIME_DOC,
    })
}

pub(super) fn integration_refused_500(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(500) && f.error_body.contains("Internal server error")).then(|| Finding {
        id: "integration-refused-500",
        severity: Severity::Error,
        title: "API Gateway answered 500: the function did not stream, or Lambda refused the invocation",
        evidence: format!("HTTP 500 {}{}", f.error_body.trim(), f.cause()),
        fix: "Behind a STREAM method the function must answer in the streaming format: awslambda.streamifyResponse (Node), AWS_LWA_INVOKE_MODE=response_stream (Lambda Web Adapter), a streaming response in lambda_runtime. API Gateway also answers 500 when Lambda refuses the invocation: over the function's reserved concurrency, a request payload over 6 MB, or no lambda:InvokeFunction permission for API Gateway.",
        doc_url: TROUBLESHOOT_DOC,
    })
}

pub(super) fn integration_timeout_504(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.status == Some(504) && f.error_body.contains("Endpoint request timed out")).then(|| {
        let at = f.headers_s.unwrap_or(f.duration_s);
        Finding {
            id: "integration-timeout-504",
            severity: Severity::Error,
            title: "API Gateway gave up waiting for the integration (504)",
            evidence: format!(
                "HTTP 504 {} after {}{}",
                f.error_body.trim(),
                secs(at),
                if near(at, l.default_integration_timeout_s, 0.05) {
                    format!(
                        ": the {} s default integration timeout",
                        l.default_integration_timeout_s
                    )
                } else {
                    String::new()
                }
            ),
            fix: "A BUFFERED integration must answer within its timeout (29 s by default; Regional and private APIs can ask for up to 300 s). Stream the response instead: responseTransferMode STREAM with TimeoutInMillis up to 900000.",
            doc_url: LIMITS_DOC,
        }
    })
}

pub(super) fn stream_cut_at_default_timeout(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.cut() && near(f.duration_s, l.default_integration_timeout_s, 0.05)).then(|| Finding {
        id: "stream-cut-at-default-timeout",
        severity: Severity::Error,
        title: "The stream was cut at the default integration timeout",
        evidence: format!(
            "the connection ended after {} and {}: API Gateway's integration timeout is {} s when TimeoutInMillis is not set",
            secs(f.duration_s),
            fmt_bytes(f.bytes),
            l.default_integration_timeout_s
        ),
        fix: "Set the integration's TimeoutInMillis explicitly (up to 900000 in STREAM mode) and at least the function's timeout. SAM's `ResponseTransferMode: RESPONSE_STREAM` on an Api event does not set it.",
        doc_url: TROUBLESHOOT_DOC,
    })
}

pub(super) fn stream_cut_at_max_duration(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.cut() && near(f.duration_s, l.max_stream_s, 0.02)).then(|| Finding {
        id: "stream-cut-at-max-duration",
        severity: Severity::Error,
        title: "The stream hit API Gateway's maximum stream duration",
        evidence: format!(
            "cut after {} and {}: API Gateway streams one response for at most {} s",
            secs(f.duration_s),
            fmt_bytes(f.bytes),
            l.max_stream_s
        ),
        fix: "Past 10 MB a stream runs at 2 MB/s, so 15 minutes carry about 1.8 GB. Serve larger objects in ranges (each response gets its own 10 MB and 15 minutes) or through a presigned S3 URL.",
        doc_url: RUNTIME_DOC,
    })
}

pub(super) fn stream_cut_after_silence(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    if !f.cut() {
        return None;
    }
    let silence = f.silence_at_end_s()?;
    let (which, limit) = if near(silence, l.idle_edge_s, 0.1) {
        ("an edge-optimized endpoint", l.idle_edge_s)
    } else if near(silence, l.idle_regional_s, 0.05) {
        ("a Regional or private endpoint", l.idle_regional_s)
    } else {
        return None;
    };
    Some(Finding {
        id: "stream-cut-after-silence",
        severity: Severity::Error,
        title: "The stream was cut after a silence: the idle timeout",
        evidence: format!(
            "no byte for {} before the connection ended (after {}): {which} cuts a stream after {limit} s without data",
            secs(silence),
            fmt_bytes(f.bytes)
        ),
        fix: "Send bytes more often than the idle timeout (30 s edge-optimized, 5 min Regional/private); use a Regional endpoint (behind your own CloudFront, raise its origin response timeout).",
        doc_url: RUNTIME_DOC,
    })
}

pub(super) fn function_default_timeout(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let failed = f.cut() || f.status == Some(502);
    (failed && near(f.duration_s, l.default_function_timeout_s, 0.1)).then(|| Finding {
        id: "function-default-timeout",
        severity: Severity::Error,
        title: "The function seems to hit Lambda's default timeout",
        evidence: format!(
            "the run failed after {} ({}): {} s is Lambda's default function timeout",
            secs(f.duration_s),
            if f.cut() {
                format!("cut after {}", fmt_bytes(f.bytes))
            } else {
                "502 before any byte".into()
            },
            l.default_function_timeout_s
        ),
        fix: "Raise the function's Timeout (up to 900 s) to cover the whole stream, and keep the integration's TimeoutInMillis at least as long.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

pub(super) fn lambda_stream_size_cap(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let cap = l.lambda_max_stream_bytes as f64;
    (f.cut() && (f.bytes as f64 - cap).abs() <= cap * 0.01).then(|| Finding {
        id: "lambda-stream-size-cap",
        severity: Severity::Error,
        title: "The stream stopped at Lambda's streamed-payload limit",
        evidence: format!(
            "cut after {} bytes ({}): Lambda streams at most {} per response",
            f.bytes,
            fmt_bytes(f.bytes),
            fmt_bytes(l.lambda_max_stream_bytes)
        ),
        fix: "Serve objects larger than 200 MB in ranges (several responses) or redirect to a presigned S3 URL.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

pub(super) fn lambda_error_in_body(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.outcome == OutcomeKind::LambdaStreamError).then(|| Finding {
        id: "lambda-error-in-body",
        severity: Severity::Error,
        title: "The function failed mid-stream and its runtime wrote the error into the body",
        evidence: format!(
            "status {} and {} of body ending with the Lambda-Runtime-Function-Error-Type text{}",
            f.status.unwrap_or(0),
            fmt_bytes(f.bytes),
            if f.length_announced {
                ", shorter or longer than announced"
            } else {
                ", with no length announced"
            }
        ),
        fix: "Find the error in the function's logs for this request (the Rust runtime and the Lambda Web Adapter end the stream cleanly after writing it, so a client that does not check length and digest keeps a corrupt file). Send Content-Length and a digest (Repr-Digest, S3 checksums) so clients can tell.",
        doc_url: "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming",
    })
}

pub(super) fn buffered_burst(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.delivery == Delivery::Burst).then(|| {
        let first = f.first_byte_s.unwrap_or(0.0);
        let last = f.last_arrival_s.unwrap_or(first);
        Finding {
            id: "buffered-burst",
            severity: Severity::Warning,
            title: "The body came in one burst at the end: something buffered it",
            evidence: format!(
                "first body byte after {}, all {} within the next {}",
                secs(first),
                fmt_bytes(f.bytes),
                secs(last - first)
            ),
            fix: "Check the integration's responseTransferMode (BUFFERED holds the whole response), that a STREAM method uses the 2021-11-15/…/response-streaming-invocations URI (the 2015-03-31/…/invocations one is buffered), and whether a CDN or proxy in front buffers.",
            doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html",
        }
    })
}

pub(super) fn missing_authentication_token(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(403) && f.error_body.contains("Missing Authentication Token")).then(|| Finding {
        id: "missing-authentication-token",
        severity: Severity::Error,
        title: "No such resource or method in the deployed API, or an unsigned request to an IAM one",
        evidence: format!(
            "HTTP 403 {}{}",
            f.error_body.trim(),
            if f.signed {
                " to a signed request"
            } else {
                " to an unsigned request"
            }
        ),
        fix: "API Gateway answers this for a path or method it does not have: check the stage in the URL (…/prod/…), the resource path and method, and that the API was deployed after its last change. A method with AWS_IAM authorization answers it too when the request is not signed: sign it (--aws-sigv4).",
        doc_url: "https://repost.aws/knowledge-center/api-gateway-authentication-token-errors",
    })
}

pub(super) fn api_key_refused(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let forbidden = f.status == Some(403) && f.error_body.contains("\"Forbidden\"");
    forbidden.then(|| {
        let sent = f.request_header_names.iter().any(|n| n == "x-api-key");
        Finding {
            id: "api-key-refused",
            severity: Severity::Error,
            title: "The method requires an API key",
            evidence: format!(
                "HTTP 403 {} {}",
                f.error_body.trim(),
                if sent {
                    "with an x-api-key header sent"
                } else {
                    "and no x-api-key header was sent"
                }
            ),
            fix: "Send the key as an x-api-key header (aws apigateway get-api-key --include-value). A key that is sent but refused is disabled, or not in a usage plan for this API stage.",
            doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html",
        }
    })
}

pub(super) fn iam_signature_refused(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    const KINDS: &[&str] = &[
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "IncompleteSignatureException",
    ];
    let kind = f.header("x-amzn-errortype").unwrap_or_default();
    let refused = f.status == Some(403)
        && (KINDS.iter().any(|k| kind.starts_with(k))
            || f.error_body.contains("The request signature we calculated")
            || f.error_body.contains("Signature expired")
            || f.error_body
                .contains("security token included in the request is invalid")
            || f.error_body.contains("Credential should be scoped"));
    refused.then(|| Finding {
        id: "iam-signature-refused",
        severity: Severity::Error,
        title: "API Gateway refused the request's SigV4 signature",
        evidence: format!("HTTP 403 {}{}", f.error_body.trim(), f.cause()),
        fix: "\"does not match\": the secret key is wrong, or something between signing and sending changed the request (a proxy, the query's order); \"security token … invalid\": the access key is unknown or a temporary one was sent without its session token; \"scoped to a valid region\": sign for the API's region (--aws-sigv4 REGION); \"Signature expired\": this machine's clock is off by more than 5 minutes.",
        doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html",
    })
}

pub(super) fn throttled_429(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(429)).then(|| Finding {
        id: "throttled-429",
        severity: Severity::Error,
        title: "Throttled: a usage plan's rate or quota, or the account's limit",
        evidence: format!("HTTP 429 {}", f.error_body.trim()),
        fix: "\"Limit Exceeded\" is the usage plan's quota for the period; \"Too Many Requests\" its rate/burst or the account's throttle. Raise them, or retry later with backoff.",
        doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html",
    })
}

/// The run completed, but only after waiting out 429s: the usage plan (or the account) allows
/// fewer requests at once than were asked.
pub(super) fn usage_plan_too_tight(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    if f.throttled == 0 || f.status == Some(429) {
        return None;
    }
    let ranges = match (f.segments_asked, f.settled_concurrency) {
        (Some(asked), Some(settled)) if settled < asked => {
            format!("; parallel ranges went from {asked} at a time down to {settled}")
        }
        _ => String::new(),
    };
    Some(Finding {
        id: "usage-plan-too-tight",
        severity: Severity::Warning,
        title: "Throttled on the way: the usage plan allows fewer requests at once than asked",
        evidence: format!(
            "{} request(s) were answered 429 Too Many Requests and waited out{ranges}",
            f.throttled
        ),
        fix: "Ask for fewer parallel ranges (--segments N at most the plan's burst), or raise the usage plan's throttle (AWS::ApiGateway::UsagePlan Throttle: BurstLimit, RateLimit; this repository's templates deploy burst 5, rate 2 per second). Each 429 costs a back-off.",
        doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html",
    })
}

/// The rate after `at` bytes is the throttle's, and before it well above.
pub(super) fn knee(timeline: &[Arrival], at: u64, l: &Limits) -> Option<(f64, f64, f64)> {
    knee_of(&split_at(timeline, at), l)
}

pub(super) fn knee_of(s: &Split, l: &Limits) -> Option<(f64, f64, f64)> {
    let at = s.crossed_at_s?;
    let before = s.before_bytes_per_sec?;
    let after = s.after_bytes_per_sec?;
    let throttled = (after - l.throttle_bytes_per_sec).abs() <= l.throttle_bytes_per_sec * 0.15;
    (throttled && before > 3.0 * after).then_some((at, before, after))
}

pub(super) fn apigw_throttle_knee(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let (at, before, after) = knee(f.timeline, l.apigw_free_bytes, l)?;
    // A knee already at 6 MB is Lambda's (the next rule).
    if lambda_knee(f.timeline, l).is_some() {
        return None;
    }
    // What a 200 MB object costs at these two rates.
    let free = l.apigw_free_bytes as f64;
    let per_200mb = free / before + (200e6 - free) / after;
    Some(Finding {
        id: "apigw-throttle-knee",
        severity: Severity::Info,
        title: "Full speed for the first 10 MB, then about 2 MB/s: API Gateway's streaming bandwidth",
        evidence: format!(
            "{} before {} (crossed at {}), {} after: a 200 MB object takes about {per_200mb:.0} s at these rates",
            fmt_rate(before),
            fmt_bytes(l.apigw_free_bytes),
            secs(at),
            fmt_rate(after)
        ),
        fix: "Expected with STREAM: each response gets its first 10 MB unthrottled, then 2 MB/s. For large objects ask for ranges in parallel: each range is its own response with its own 10 MB.",
        doc_url: RUNTIME_DOC,
    })
}

/// Bytes per second between the arrivals that took the total past `lo` and past `hi`.
pub(super) fn band_rate(timeline: &[Arrival], lo: u64, hi: u64) -> Option<f64> {
    let mut cum = 0u64;
    let mut start: Option<(u64, u64)> = None;
    for a in timeline {
        cum += a.bytes as u64;
        match start {
            None if cum >= lo => start = Some((cum, a.t_offset_ns)),
            Some((c0, t0)) if cum >= hi => {
                let dt = a.t_offset_ns.saturating_sub(t0) as f64 / 1e9;
                return (dt > 0.0).then(|| (cum - c0) as f64 / dt);
            }
            _ => {}
        }
    }
    None
}

/// The knee at 6 MB. Still at full speed between 6 and 10 MB means the knee is API Gateway's at
/// 10 MB, and a long throttled tail only pulled the average after 6 MB down to 2 MB/s.
pub(super) fn lambda_knee(timeline: &[Arrival], l: &Limits) -> Option<(f64, f64, f64)> {
    let found = knee(timeline, l.lambda_free_bytes, l)?;
    let fast_band = band_rate(timeline, l.lambda_free_bytes, l.apigw_free_bytes)
        .is_some_and(|r| r > 3.0 * l.throttle_bytes_per_sec);
    (!fast_band).then_some(found)
}

pub(super) fn lambda_throttle_knee(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let (at, before, after) = lambda_knee(f.timeline, l)?;
    Some(Finding {
        id: "lambda-throttle-knee",
        severity: Severity::Info,
        title: "Full speed for the first 6 MB, then about 2 MB/s: Lambda's own streaming bandwidth",
        evidence: format!(
            "{} before {} (crossed at {}), {} after",
            fmt_rate(before),
            fmt_bytes(l.lambda_free_bytes),
            secs(at),
            fmt_rate(after)
        ),
        fix: "Lambda streams the first 6 MB of a response uncapped, then at most 2 MB/s; a knee at 6 MB rather than 10 MB points at a Lambda function URL (or Lambda's own cap before API Gateway's). Ranges in parallel get 6 MB each.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

pub(super) fn remapped_content_length(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    f.remapped_length.then(|| Finding {
        id: "remapped-content-length",
        severity: Severity::Info,
        title: "The function's Content-Length was moved to x-amzn-remapped-content-length",
        evidence: format!(
            "x-amzn-remapped-content-length: {} and no Content-Length",
            f.header("x-amzn-remapped-content-length").unwrap_or("")
        ),
        fix: "Lambda's streaming (function URLs) rewrites Content-Length this way; a client that reads only Content-Length sees an unknown length. streamscope checks the remapped value.",
        doc_url: "https://github.com/cargo-lambda/cargo-lambda/issues/862",
    })
}

pub(super) fn unverifiable_download(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let body = f.status.is_some_and(|s| (200..300).contains(&s)) && f.bytes > 0;
    (body && !f.length_announced && !f.digest_known).then(|| Finding {
        id: "unverifiable-download",
        severity: Severity::Warning,
        title: "Nothing to verify the file against: a cut stream would look complete",
        evidence: format!(
            "{} arrived with no Content-Length, no remapped length and no digest",
            fmt_bytes(f.bytes)
        ),
        fix: "Send a digest the client can check: upload to S3 with a SHA-256 checksum and read it with GetObject ChecksumMode ENABLED (x-amz-checksum-sha256), or send Repr-Digest; forward Content-Length from the origin.",
        doc_url: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html",
    })
}

pub(super) fn small_arrivals(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let median = f.median_arrival_bytes?;
    (f.http1 && f.arrivals >= 100 && median < 16 * 1024).then(|| Finding {
        id: "small-arrivals",
        severity: Severity::Info,
        title: "The body arrives in small pieces",
        evidence: format!("{} arrivals, median {median} B", f.arrivals),
        fix: "The function writes small chunks, or something in between splits them. Larger writes cost less per byte (Node's runtime coalesces writes up to 64 KiB; a function URL holds back chunks under ~100 KB).",
        doc_url: "https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/94",
    })
}

pub(super) fn late_first_byte(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let first = f.first_byte_s?;
    let last = f.last_arrival_s?;
    let steady = f.delivery == Delivery::Streamed && last - first > first;
    (first >= 1.0 && steady).then(|| Finding {
        id: "late-first-byte",
        severity: Severity::Info,
        title: "The first byte came late, then the body streamed steadily",
        evidence: format!(
            "first byte after {} (headers after {}), then {} over {}",
            secs(first),
            secs(f.headers_s.unwrap_or(first)),
            fmt_bytes(f.bytes),
            secs(last - first)
        ),
        fix: "A cold start (see the function's Init Duration) or work done before the first write. Write the response's first bytes early; provisioned concurrency or SnapStart shorten cold starts.",
        doc_url: "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html",
    })
}
