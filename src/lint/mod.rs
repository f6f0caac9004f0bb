//! `streamscope lint`: the response-streaming mistakes that live in a template before they reach a
//! run. CloudFormation and SAM (YAML with the short intrinsic tags, or JSON), OpenAPI with
//! `x-amazon-apigateway-integration`, and Terraform (`.tf`, a directory as one module). Files are
//! read with real parsers (saphyr for YAML and JSON, keeping tags and lines; hcl-edit for HCL,
//! keeping spans); each format reduces what it found to the same plain facts, and the rules are
//! pure functions of those facts.

mod cfn;
mod openapi;
mod terraform;
pub mod tree;

pub use crate::probe::analysis::findings::Severity;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One thing to change, where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintFinding {
    pub file: String,
    pub line: usize,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fix: &'static str,
    pub doc_url: &'static str,
}

/// Why a path could not be linted.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("cannot read {0}: {1}")]
    Unreadable(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error(
        "{0}: not a CloudFormation/SAM template, an OpenAPI definition or Terraform (no Resources, openapi/swagger or .tf)"
    )]
    NotATemplate(PathBuf),
}

/// A rule: its id, how bad, and what to change.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub fix: &'static str,
    pub doc_url: &'static str,
}

const MODE_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html";
const STREAM_DOC: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html";

pub const URI_MODE_MISMATCH: Rule = Rule {
    id: "uri-mode-mismatch",
    severity: Severity::Error,
    fix: "STREAM needs the InvokeWithResponseStream URI, arn:aws:apigateway:REGION:lambda:path/2021-11-15/functions/FUNCTION_ARN/response-streaming-invocations (Terraform: aws_lambda_function.X.response_streaming_invoke_arn); BUFFERED uses 2015-03-31/functions/FUNCTION_ARN/invocations (invoke_arn). AWS rejects either mismatch at deploy (PutIntegration: 400 Bad Request).",
    doc_url: MODE_DOC,
};
pub const STREAM_TIMEOUT_MISSING: Rule = Rule {
    id: "stream-timeout-missing",
    severity: Severity::Error,
    fix: "Set the integration's TimeoutInMillis (timeoutInMillis, timeout_milliseconds) explicitly, up to 900000 in STREAM mode; unset, API Gateway cuts the stream at 29 s. SAM's ResponseTransferMode: RESPONSE_STREAM on an Api event does not set it: add TimeoutInMillis to the event.",
    doc_url: STREAM_DOC,
};
pub const STREAM_TIMEOUT_OVER_MAX: Rule = Rule {
    id: "stream-timeout-over-max",
    severity: Severity::Error,
    fix: "API Gateway accepts at most 900000 ms (15 minutes) for a STREAM integration.",
    doc_url: STREAM_DOC,
};
pub const TIMEOUT_BELOW_FUNCTION: Rule = Rule {
    id: "timeout-below-function",
    severity: Severity::Warning,
    fix: "Keep the integration's timeout at least as long as the function's Timeout: otherwise API Gateway cuts a stream the function is still producing (and the function keeps running, billed).",
    doc_url: STREAM_DOC,
};
pub const SAM_STREAM_VALUE: Rule = Rule {
    id: "sam-stream-value",
    severity: Severity::Error,
    fix: "On a SAM Api event the value is RESPONSE_STREAM (SAM turns it into the integration's STREAM); STREAM is the CloudFormation / API Gateway spelling.",
    doc_url: "https://github.com/aws/serverless-application-model/pull/3881",
};
pub const STREAM_WITH_CACHING: Rule = Rule {
    id: "stream-with-caching",
    severity: Severity::Error,
    fix: "API Gateway does not cache streamed responses: turn caching off for the stage or the streaming methods, or keep those methods BUFFERED.",
    doc_url: STREAM_DOC,
};
pub const STREAM_WITH_COMPRESSION: Rule = Rule {
    id: "stream-with-compression",
    severity: Severity::Error,
    fix: "STREAM methods do not support content encoding at the gateway: remove MinimumCompressionSize (minimum_compression_size) and compress inside the integration if needed.",
    doc_url: STREAM_DOC,
};
pub const HTTP_API_CANNOT_STREAM: Rule = Rule {
    id: "http-api-cannot-stream",
    severity: Severity::Error,
    fix: "Only REST APIs stream responses: HTTP APIs (API Gateway v2) buffer them (10 MB, 30 s). Use an AWS::ApiGateway::RestApi / aws_api_gateway_* resources, or a Lambda function URL with InvokeMode RESPONSE_STREAM.",
    doc_url: STREAM_DOC,
};
pub const EDGE_ENDPOINT_IDLE: Rule = Rule {
    id: "edge-endpoint-idle",
    severity: Severity::Warning,
    fix: "An edge-optimized endpoint (the default when no endpoint type is set) cuts a stream after 30 s without a byte; a Regional or private one after 5 minutes. Set the endpoint type to REGIONAL unless the function never pauses that long.",
    doc_url: STREAM_DOC,
};

const LWA_DOC: &str = "https://github.com/aws/aws-lambda-web-adapter#configurations";
const LAMBDA_PROXY_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html";

pub const WEB_ADAPTER_MODE_MISMATCH: Rule = Rule {
    id: "web-adapter-mode-mismatch",
    severity: Severity::Error,
    fix: "Match the Lambda Web Adapter's AWS_LWA_INVOKE_MODE to the method: response_stream behind a STREAM method (left unset, the adapter answers in the buffered format and API Gateway returns 500), buffered (the default) behind a BUFFERED one (a streamed answer reaches the client as status and headers with an empty body).",
    doc_url: LWA_DOC,
};
pub const STREAM_NON_PROXY: Rule = Rule {
    id: "stream-non-proxy",
    severity: Severity::Error,
    fix: "Response streaming works only with proxy integrations: set the integration's Type to AWS_PROXY (a Lambda function) or HTTP_PROXY; AWS, HTTP and MOCK integrations with their mapping templates buffer.",
    doc_url: STREAM_DOC,
};
pub const STREAM_MISSING_PERMISSION: Rule = Rule {
    id: "stream-missing-permission",
    severity: Severity::Error,
    fix: "Add an AWS::Lambda::Permission with Action lambda:InvokeFunction, Principal apigateway.amazonaws.com and FunctionName the function (SourceArn the API's execute-api ARN): without it Lambda refuses API Gateway's invoke and every request gets 500 Internal server error. (SAM's Api events add it themselves.)",
    doc_url: LAMBDA_PROXY_DOC,
};
pub const BUFFERED_TIMEOUT_OVER_29S: Rule = Rule {
    id: "buffered-timeout-over-29s",
    severity: Severity::Warning,
    fix: "A BUFFERED integration's timeout over 29000 ms needs a raised quota (Service Quotas: 'Maximum integration timeout in milliseconds'), which only Regional and private APIs can get, up to 300000 ms; without it the deploy fails. For long responses, stream instead: ResponseTransferMode STREAM allows up to 900000 ms.",
    doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html",
};
pub const TERRAFORM_DATA_STREAMING_ARN: Rule = Rule {
    id: "terraform-data-streaming-arn",
    severity: Severity::Warning,
    fix: "The aws_lambda_function data source's response_streaming_invoke_arn names a qualified (versioned) function (hashicorp/terraform-provider-aws #46785): use the resource's aws_lambda_function.X.response_streaming_invoke_arn, or build the URI from the function's unqualified ARN.",
    doc_url: "https://github.com/hashicorp/terraform-provider-aws/issues/46785",
};

/// Every rule, for the README table and the JSON output's reference.
pub const RULES: &[Rule] = &[
    URI_MODE_MISMATCH,
    STREAM_TIMEOUT_MISSING,
    STREAM_TIMEOUT_OVER_MAX,
    TIMEOUT_BELOW_FUNCTION,
    SAM_STREAM_VALUE,
    STREAM_WITH_CACHING,
    STREAM_WITH_COMPRESSION,
    HTTP_API_CANNOT_STREAM,
    EDGE_ENDPOINT_IDLE,
    WEB_ADAPTER_MODE_MISMATCH,
    STREAM_NON_PROXY,
    STREAM_MISSING_PERMISSION,
    BUFFERED_TIMEOUT_OVER_29S,
    TERRAFORM_DATA_STREAMING_ARN,
];

/// A rule that fired at a line, with what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: Rule,
    pub line: usize,
    pub message: String,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

fn hit(rule: Rule, line: usize, message: impl Into<String>) -> Hit {
    Hit {
        rule,
        line,
        message: message.into(),
    }
}

/// Which Lambda invoke API an integration URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriKind {
    /// `2021-11-15/functions/…/response-streaming-invocations`.
    Streaming,
    /// `2015-03-31/functions/…/invocations`.
    Buffered,
    #[default]
    Unknown,
}

impl UriKind {
    /// From the URI's text (a Fn::Sub template or a literal ARN).
    pub fn of_text(uri: &str) -> UriKind {
        if uri.contains("response-streaming-invocations") {
            UriKind::Streaming
        } else if uri.contains("/functions/") && uri.trim_end().ends_with("/invocations") {
            UriKind::Buffered
        } else {
            UriKind::Unknown
        }
    }
}

/// A value with the line it is on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct At<T> {
    pub value: T,
    pub line: usize,
}

/// What one API Gateway integration of a Lambda function says, whatever the format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntegrationFacts {
    /// Where the integration is (the line reported when the problem is something missing).
    pub line: usize,
    /// `responseTransferMode`, upper-cased; None when not set (BUFFERED); [`UNKNOWN`] when set by
    /// an expression the file does not resolve (no rule then judges the mode).
    pub mode: Option<At<String>>,
    pub uri: At<UriKind>,
    /// The integration timeout: where it is set, and its value when the file says it plainly (a
    /// literal, a parameter's default); an expression counts as set.
    pub timeout_ms: Option<At<Option<f64>>>,
    /// The invoked function's timeout, when the template says (or defaults to Lambda's 3 s).
    pub function_timeout_s: Option<f64>,
    /// How the format names the timeout setting, for messages.
    pub timeout_name: &'static str,
    /// The integration's type (`AWS_PROXY`, `AWS`...), upper-cased, when the file says.
    pub kind: Option<At<String>>,
    /// The invoked function runs under the Lambda Web Adapter: whether it streams
    /// (`AWS_LWA_INVOKE_MODE=response_stream`), at the line that decides it.
    pub web_adapter_streams: Option<At<bool>>,
    /// Whether the template grants API Gateway `lambda:InvokeFunction` on the invoked function
    /// (None: not this file's business, or the function is not in it).
    pub permitted: Option<bool>,
    /// The URI is a Terraform data source's response-streaming ARN (a qualified function).
    pub data_source_arn: bool,
}

/// A setting whose value the file does not say plainly.
pub const UNKNOWN: &str = "?";

impl IntegrationFacts {
    pub fn streams(&self) -> bool {
        self.mode.as_ref().is_some_and(|m| m.value == "STREAM")
    }

    /// Not set, or set to BUFFERED.
    pub fn buffers(&self) -> bool {
        self.mode.as_ref().is_none_or(|m| m.value == "BUFFERED")
    }
}

/// The Web Adapter's mode against the method's; a BUFFERED timeout over 29 s.
fn check_adapter_and_buffered(f: &IntegrationFacts, out: &mut Vec<Hit>) {
    if let Some(w) = &f.web_adapter_streams {
        match (w.value, f.streams(), f.buffers()) {
            (false, true, _) => out.push(hit(
                WEB_ADAPTER_MODE_MISMATCH,
                w.line,
                "the Web Adapter answers in its buffered default behind a STREAM method: API Gateway returns 500",
            )),
            (true, _, true) => out.push(hit(
                WEB_ADAPTER_MODE_MISMATCH,
                w.line,
                "the Web Adapter streams (response_stream) behind a BUFFERED method: the client gets headers and an empty body",
            )),
            _ => {}
        }
    }
    if f.buffers()
        && let Some(At {
            value: Some(ms),
            line,
        }) = &f.timeout_ms
        && *ms > 29_000.0
    {
        out.push(hit(
            BUFFERED_TIMEOUT_OVER_29S,
            *line,
            format!(
                "{} {ms} on a BUFFERED integration: over 29000 needs a raised quota (Regional/private only)",
                f.timeout_name
            ),
        ));
    }
}

/// What a STREAM method needs around it: a proxy integration, API Gateway's permission, an
/// unqualified function ARN.
fn check_stream_setup(f: &IntegrationFacts, out: &mut Vec<Hit>) {
    if let Some(k) = &f.kind
        && k.value != UNKNOWN
        && !matches!(k.value.as_str(), "AWS_PROXY" | "HTTP_PROXY")
    {
        out.push(hit(
            STREAM_NON_PROXY,
            k.line,
            format!(
                "STREAM on a {} integration: only proxy integrations stream",
                k.value
            ),
        ));
    }
    if f.permitted == Some(false) {
        out.push(hit(
            STREAM_MISSING_PERMISSION,
            f.line,
            "no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke this function",
        ));
    }
    if f.data_source_arn {
        out.push(hit(
            TERRAFORM_DATA_STREAMING_ARN,
            f.uri.line,
            "the uri is data.aws_lambda_function's response_streaming_invoke_arn, which carries a version",
        ));
    }
}

/// The rules about one integration.
pub fn check_integration(f: &IntegrationFacts) -> Vec<Hit> {
    let mut out = Vec::new();
    let mode_line = f.mode.as_ref().map_or(f.line, |m| m.line);
    match f.uri.value {
        UriKind::Buffered if f.streams() => out.push(hit(
            URI_MODE_MISMATCH,
            f.uri.line,
            "responseTransferMode STREAM with the buffered 2015-03-31/…/invocations URI",
        )),
        UriKind::Streaming if f.buffers() => out.push(hit(
            URI_MODE_MISMATCH,
            mode_line,
            "the response-streaming-invocations URI without responseTransferMode STREAM",
        )),
        _ => {}
    }
    check_adapter_and_buffered(f, &mut out);
    if !f.streams() {
        return out;
    }
    check_stream_setup(f, &mut out);
    match &f.timeout_ms {
        None => out.push(hit(
            STREAM_TIMEOUT_MISSING,
            f.line,
            format!(
                "STREAM without {}: the stream is cut at 29 s",
                f.timeout_name
            ),
        )),
        Some(At { value: None, .. }) => {}
        Some(At {
            value: Some(ms),
            line,
        }) if *ms > 900_000.0 => out.push(hit(
            STREAM_TIMEOUT_OVER_MAX,
            *line,
            format!("{} {ms} is over 900000", f.timeout_name),
        )),
        Some(At {
            value: Some(ms),
            line,
        }) => {
            if let Some(fs) = f.function_timeout_s
                && *ms < fs * 1000.0
            {
                out.push(hit(
                    TIMEOUT_BELOW_FUNCTION,
                    *line,
                    format!(
                        "{} {ms} ms is shorter than the function's {fs} s timeout",
                        f.timeout_name
                    ),
                ));
            }
        }
    }
    out
}

/// An API's endpoint type, as far as the file says.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Endpoint {
    /// Not this file's business (an OpenAPI file: the type is chosen when it is imported).
    #[default]
    Unknown,
    /// Not set: API Gateway makes it edge-optimized.
    Default,
    /// Set, upper-cased.
    Set(At<String>),
}

/// What one API says about its streaming methods' surroundings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiFacts {
    /// Whether any of its methods streams.
    pub streams: bool,
    pub endpoint: Endpoint,
    /// Where the API is declared.
    pub line: usize,
    pub compression: Option<usize>,
    pub caching: Vec<usize>,
}

pub fn check_api(a: &ApiFacts) -> Vec<Hit> {
    if !a.streams {
        return Vec::new();
    }
    let mut out = Vec::new();
    match &a.endpoint {
        Endpoint::Default => out.push(hit(
            EDGE_ENDPOINT_IDLE,
            a.line,
            "no endpoint type set: edge-optimized, which cuts a stream after 30 s of silence",
        )),
        Endpoint::Set(e) if e.value == "EDGE" => out.push(hit(
            EDGE_ENDPOINT_IDLE,
            e.line,
            "an edge-optimized endpoint cuts a stream after 30 s of silence",
        )),
        _ => {}
    }
    if let Some(line) = a.compression {
        out.push(hit(
            STREAM_WITH_COMPRESSION,
            line,
            "minimum compression size set on an API whose methods stream",
        ));
    }
    for &line in &a.caching {
        out.push(hit(
            STREAM_WITH_CACHING,
            line,
            "caching enabled on an API whose methods stream",
        ));
    }
    out
}

/// The findings for `paths` (files, or directories of Terraform files), in path order.
pub fn lint_paths(paths: &[PathBuf]) -> Result<Vec<LintFinding>, LintError> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(lint_path(p)?);
    }
    Ok(out)
}

fn lint_path(path: &Path) -> Result<Vec<LintFinding>, LintError> {
    let read = |p: &Path| {
        crate::disk::read_input_text(p, crate::disk::TEMPLATE_CAP)
            .map_err(|e| LintError::Unreadable(p.to_path_buf(), e))
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| LintError::Unreadable(path.to_path_buf(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(LintError::NotATemplate(path.to_path_buf()));
        }
        let sources = files
            .iter()
            .map(|f| Ok((f.clone(), read(f)?)))
            .collect::<Result<Vec<_>, LintError>>()?;
        return terraform::lint(&sources);
    }
    let text = read(path)?;
    if path.extension().is_some_and(|e| e == "tf") {
        return terraform::lint(&[(path.to_path_buf(), text)]);
    }
    let root =
        tree::parse(&text).map_err(|e| LintError::Parse(path.to_path_buf(), e.to_string()))?;
    let hits = if cfn::is_template(&root) {
        cfn::lint(&root)
    } else if openapi::is_definition(&root) {
        openapi::lint(&root, None)
    } else {
        return Err(LintError::NotATemplate(path.to_path_buf()));
    };
    Ok(to_findings(path, hits))
}

fn to_findings(path: &Path, mut hits: Vec<Hit>) -> Vec<LintFinding> {
    hits.sort_by_key(|h| h.line);
    hits.into_iter()
        .map(|h| LintFinding {
            file: path.display().to_string(),
            line: h.line,
            rule: h.rule.id,
            severity: h.rule.severity,
            message: h.message,
            fix: h.rule.fix,
            doc_url: h.rule.doc_url,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        mode: Option<&str>,
        uri: UriKind,
        timeout: Option<f64>,
        fn_s: Option<f64>,
    ) -> IntegrationFacts {
        IntegrationFacts {
            line: 10,
            mode: mode.map(|m| At {
                value: m.to_string(),
                line: 11,
            }),
            uri: At {
                value: uri,
                line: 12,
            },
            timeout_ms: timeout.map(|t| At {
                value: (t >= 0.0).then_some(t),
                line: 13,
            }),
            function_timeout_s: fn_s,
            timeout_name: "TimeoutInMillis",
            ..IntegrationFacts::default()
        }
    }

    fn stream() -> IntegrationFacts {
        facts(
            Some("STREAM"),
            UriKind::Streaming,
            Some(900_000.0),
            Some(900.0),
        )
    }

    fn with_adapter(f: IntegrationFacts, streams: bool) -> IntegrationFacts {
        IntegrationFacts {
            web_adapter_streams: Some(At {
                value: streams,
                line: 20,
            }),
            ..f
        }
    }

    #[test]
    fn integration_rules_table() {
        use UriKind::*;
        type Row = (&'static str, IntegrationFacts, Vec<(&'static str, usize)>);
        let rows: Vec<Row> = vec![
            (
                "a correct STREAM",
                facts(Some("STREAM"), Streaming, Some(900_000.0), Some(900.0)),
                vec![],
            ),
            (
                "a correct BUFFERED",
                facts(None, Buffered, None, Some(3.0)),
                vec![],
            ),
            (
                "BUFFERED spelled out",
                facts(Some("BUFFERED"), Buffered, Some(29_000.0), None),
                vec![],
            ),
            (
                "STREAM with the buffered URI",
                facts(Some("STREAM"), Buffered, Some(900_000.0), None),
                vec![("uri-mode-mismatch", 12)],
            ),
            (
                "the streaming URI without STREAM",
                facts(None, Streaming, None, None),
                vec![("uri-mode-mismatch", 10)],
            ),
            (
                "STREAM without a timeout",
                facts(Some("STREAM"), Streaming, None, None),
                vec![("stream-timeout-missing", 10)],
            ),
            (
                "over the maximum",
                facts(Some("STREAM"), Streaming, Some(1_000_000.0), None),
                vec![("stream-timeout-over-max", 13)],
            ),
            (
                "below the function's timeout",
                facts(Some("STREAM"), Streaming, Some(60_000.0), Some(300.0)),
                vec![("timeout-below-function", 13)],
            ),
            (
                "a mode set by an expression is judged by nobody",
                facts(Some(UNKNOWN), Streaming, None, None),
                vec![],
            ),
            (
                "a timeout set by an expression is set",
                facts(Some("STREAM"), Streaming, Some(-1.0), Some(900.0)),
                vec![],
            ),
            (
                "an unknown URI says nothing about the mode",
                facts(Some("STREAM"), Unknown, Some(900_000.0), None),
                vec![],
            ),
            (
                "the Web Adapter streaming behind STREAM",
                with_adapter(stream(), true),
                vec![],
            ),
            (
                "the Web Adapter buffered behind STREAM",
                with_adapter(stream(), false),
                vec![("web-adapter-mode-mismatch", 20)],
            ),
            (
                "the Web Adapter streaming behind BUFFERED",
                with_adapter(facts(None, Buffered, None, None), true),
                vec![("web-adapter-mode-mismatch", 20)],
            ),
            (
                "the Web Adapter buffered behind BUFFERED",
                with_adapter(facts(None, Buffered, None, None), false),
                vec![],
            ),
            (
                "BUFFERED over 29 s",
                facts(None, Buffered, Some(60_000.0), None),
                vec![("buffered-timeout-over-29s", 13)],
            ),
            (
                "STREAM over 29 s is its business",
                facts(Some("STREAM"), Streaming, Some(60_000.0), None),
                vec![],
            ),
            (
                "STREAM on a non-proxy integration",
                IntegrationFacts {
                    kind: Some(At {
                        value: "AWS".into(),
                        line: 21,
                    }),
                    ..stream()
                },
                vec![("stream-non-proxy", 21)],
            ),
            (
                "STREAM on HTTP_PROXY",
                IntegrationFacts {
                    kind: Some(At {
                        value: "HTTP_PROXY".into(),
                        line: 21,
                    }),
                    ..stream()
                },
                vec![],
            ),
            (
                "no permission for API Gateway",
                IntegrationFacts {
                    permitted: Some(false),
                    ..stream()
                },
                vec![("stream-missing-permission", 10)],
            ),
            (
                "a permission",
                IntegrationFacts {
                    permitted: Some(true),
                    ..stream()
                },
                vec![],
            ),
            (
                "a data source's ARN",
                IntegrationFacts {
                    data_source_arn: true,
                    ..stream()
                },
                vec![("terraform-data-streaming-arn", 12)],
            ),
        ];
        for (what, f, want) in rows {
            let got: Vec<(&str, usize)> = check_integration(&f)
                .iter()
                .map(|h| (h.rule.id, h.line))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn uris_are_told_apart() {
        assert_eq!(
            UriKind::of_text(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/${Fn.Arn}/response-streaming-invocations"
            ),
            UriKind::Streaming
        );
        assert_eq!(
            UriKind::of_text(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations"
            ),
            UriKind::Buffered
        );
        assert_eq!(UriKind::of_text("https://example.com/x"), UriKind::Unknown);
    }
}
