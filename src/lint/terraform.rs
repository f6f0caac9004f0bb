//! Terraform (HCL, parsed with hcl-edit, which keeps each node's span): `aws_api_gateway_integration`
//! and the `aws_lambda_function` it invokes, the REST API, stage and method settings around it, and
//! `aws_apigatewayv2_integration`. The files of a directory are one module.

use super::{
    ApiFacts, At, Endpoint, HTTP_API_CANNOT_STREAM, Hit, IntegrationFacts, LintError, LintFinding,
    UNKNOWN, UriKind, check_api, check_integration, hit, to_findings,
};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use std::path::PathBuf;

/// Lambda's timeout when a function sets none.
const LAMBDA_DEFAULT_TIMEOUT_S: f64 = 3.0;

/// A block of a file, with the file's text for line numbers.
struct Located<'a> {
    file: usize,
    text: &'a str,
    block: &'a Block,
}

impl Located<'_> {
    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let at = span.map_or(0, |r| r.start).min(self.text.len());
        self.text[..at].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn line(&self) -> usize {
        self.line_of(self.block.span())
    }

    fn labels(&self) -> Vec<&str> {
        self.block
            .labels
            .iter()
            .map(|l| match l {
                BlockLabel::Ident(i) => i.as_str(),
                BlockLabel::String(s) => s.as_str(),
            })
            .collect()
    }

    fn attr(&self, key: &str) -> Option<(&Expression, usize)> {
        attribute(&self.block.body, key).map(|e| (e, self.line_of(e.span())))
    }

    /// A nested block's attribute: `settings { caching_enabled = true }`.
    fn nested(&self, block: &str, key: &str) -> Vec<(&Expression, usize)> {
        self.block
            .body
            .iter()
            .filter_map(|s| match s {
                Structure::Block(b) if b.ident.as_str() == block => attribute(&b.body, key),
                _ => None,
            })
            .map(|e| (e, self.line_of(e.span())))
            .collect()
    }
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.iter().find_map(|s| match s {
        Structure::Attribute(a) if a.key.as_str() == key => Some(&a.value),
        _ => None,
    })
}

/// The source text of an expression (a traversal like `aws_lambda_function.f.invoke_arn`).
fn source(e: &Expression) -> String {
    e.to_string().trim().to_string()
}

fn string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn number(e: &Expression) -> Option<f64> {
    match e {
        Expression::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn boolean(e: &Expression) -> Option<bool> {
    match e {
        Expression::Bool(b) => Some(**b),
        _ => None,
    }
}

struct Module<'a> {
    blocks: Vec<Located<'a>>,
}

impl<'a> Module<'a> {
    fn resources(&self, kind: &'a str) -> impl Iterator<Item = &Located<'a>> {
        self.blocks.iter().filter(move |b| {
            b.block.ident.as_str() == "resource" && b.labels().first() == Some(&kind)
        })
    }

    fn resource(&self, kind: &str, name: &str) -> Option<&Located<'a>> {
        self.blocks
            .iter()
            .find(|b| b.block.ident.as_str() == "resource" && b.labels() == [kind, name])
    }

    /// A number, or `var.x` with a numeric default.
    fn number(&self, e: &Expression) -> Option<f64> {
        number(e).or_else(|| {
            let name = source(e).strip_prefix("var.")?.to_string();
            let var = self
                .blocks
                .iter()
                .find(|b| b.block.ident.as_str() == "variable" && b.labels() == [name.as_str()])?;
            var.attr("default").and_then(|(d, _)| number(d))
        })
    }

    /// What a `uri` names, and the function it invokes.
    fn uri(&self, e: &Expression) -> (UriKind, Option<f64>) {
        let text = source(e);
        let kind = if text.ends_with(".response_streaming_invoke_arn") {
            UriKind::Streaming
        } else if text.ends_with(".invoke_arn") {
            UriKind::Buffered
        } else {
            UriKind::of_text(&string(e).unwrap_or(text.clone()))
        };
        let function = text
            .strip_prefix("aws_lambda_function.")
            .and_then(|rest| rest.split('.').next())
            .and_then(|name| self.resource("aws_lambda_function", name))
            .map(|f| {
                f.attr("timeout")
                    .and_then(|(t, _)| self.number(t))
                    .unwrap_or(LAMBDA_DEFAULT_TIMEOUT_S)
            });
        (kind, function)
    }
}

/// Which file's hits: one list per source file.
type Hits = Vec<Vec<Hit>>;

impl Module<'_> {
    /// REST API integrations: their transfer mode, URI and timeouts checked; returns the APIs
    /// with a streaming integration.
    fn rest_integrations(&self, hits: &mut Hits) -> std::collections::HashSet<String> {
        let mut streaming_apis = std::collections::HashSet::new();
        for integ in self.resources("aws_api_gateway_integration") {
            let mode = integ.attr("response_transfer_mode").map(|(e, line)| At {
                value: string(e).map_or_else(|| UNKNOWN.to_string(), |s| s.to_ascii_uppercase()),
                line,
            });
            let (uri, function_timeout_s, uri_line) = match integ.attr("uri") {
                Some((e, line)) => {
                    let (kind, f) = self.uri(e);
                    (kind, f, line)
                }
                None => (UriKind::Unknown, None, integ.line()),
            };
            let data_source_arn = integ.attr("uri").is_some_and(|(e, _)| {
                let text = source(e);
                text.trim().starts_with("data.aws_lambda_function.")
                    && text.trim().ends_with(".response_streaming_invoke_arn")
            });
            let kind = integ.attr("type").map(|(e, line)| At {
                value: string(e).map_or_else(|| UNKNOWN.to_string(), |s| s.to_ascii_uppercase()),
                line,
            });
            let facts = IntegrationFacts {
                line: integ.line(),
                mode,
                uri: At {
                    value: uri,
                    line: uri_line,
                },
                timeout_ms: integ.attr("timeout_milliseconds").map(|(e, line)| At {
                    value: self.number(e),
                    line,
                }),
                function_timeout_s,
                timeout_name: "timeout_milliseconds",
                kind,
                data_source_arn,
                ..IntegrationFacts::default()
            };
            if facts.streams()
                && let Some((api, _)) = integ.attr("rest_api_id")
            {
                streaming_apis.insert(api_name(api));
            }
            hits[integ.file].extend(check_integration(&facts));
        }
        streaming_apis
    }

    /// HTTP API (v2) integrations set up to stream, which they cannot.
    fn http_api_integrations(&self, hits: &mut Hits) {
        for integ in self.resources("aws_apigatewayv2_integration") {
            let streaming_uri = integ
                .attr("integration_uri")
                .filter(|(e, _)| self.uri(e).0 == UriKind::Streaming)
                .map(|(_, l)| l);
            if let Some(line) = integ
                .attr("response_transfer_mode")
                .map(|(_, l)| l)
                .or(streaming_uri)
            {
                hits[integ.file].push(hit(
                    HTTP_API_CANNOT_STREAM,
                    line,
                    "an HTTP API (v2) integration set up to stream",
                ));
            }
        }
    }

    /// REST APIs that stream: their endpoint type, compression and caching.
    fn rest_apis(&self, streaming_apis: &std::collections::HashSet<String>, hits: &mut Hits) {
        for api in self.resources("aws_api_gateway_rest_api") {
            let name = api.labels().get(1).copied().unwrap_or_default().to_string();
            let endpoint = match api.nested("endpoint_configuration", "types").first() {
                None => Endpoint::Default,
                Some((Expression::Array(a), line)) => match a.iter().next().and_then(string) {
                    Some(t) => Endpoint::Set(At {
                        value: t.to_ascii_uppercase(),
                        line: *line,
                    }),
                    None => Endpoint::Unknown,
                },
                Some(_) => Endpoint::Unknown,
            };
            // Caching: the stage's cache cluster, a method setting's caching, of this API.
            let mut caching = Vec::new();
            for (kind, block, key) in [
                ("aws_api_gateway_stage", None, "cache_cluster_enabled"),
                (
                    "aws_api_gateway_method_settings",
                    Some("settings"),
                    "caching_enabled",
                ),
            ] {
                for r in self.resources(kind) {
                    let mine = r
                        .attr("rest_api_id")
                        .is_some_and(|(e, _)| api_name(e) == name);
                    if !mine || r.file != api.file {
                        continue;
                    }
                    let found = match block {
                        Some(b) => r.nested(b, key),
                        None => r.attr(key).into_iter().collect(),
                    };
                    caching.extend(
                        found
                            .into_iter()
                            .filter(|(e, _)| boolean(e) == Some(true))
                            .map(|(_, l)| l),
                    );
                }
            }
            hits[api.file].extend(check_api(&ApiFacts {
                streams: streaming_apis.contains(&name),
                endpoint,
                line: api.line(),
                compression: api.attr("minimum_compression_size").map(|(_, l)| l),
                caching,
            }));
        }
    }
}

pub fn lint(sources: &[(PathBuf, String)]) -> Result<Vec<LintFinding>, LintError> {
    let bodies = sources
        .iter()
        .map(|(p, text)| {
            hcl_edit::parser::parse_body(text)
                .map_err(|e| LintError::Parse(p.clone(), e.to_string().replace('\n', " ")))
        })
        .collect::<Result<Vec<Body>, _>>()?;
    let module = Module {
        blocks: bodies
            .iter()
            .enumerate()
            .flat_map(|(file, body)| {
                body.iter().filter_map(move |s| match s {
                    Structure::Block(block) => Some(Located {
                        file,
                        text: &sources[file].1,
                        block,
                    }),
                    Structure::Attribute(_) => None,
                })
            })
            .collect(),
    };
    let mut hits: Hits = vec![Vec::new(); sources.len()];
    let streaming_apis = module.rest_integrations(&mut hits);
    module.http_api_integrations(&mut hits);
    module.rest_apis(&streaming_apis, &mut hits);
    Ok(sources
        .iter()
        .zip(hits)
        .flat_map(|((path, _), h)| to_findings(path, h))
        .collect())
}

/// `aws_api_gateway_rest_api.NAME.id` → NAME.
fn api_name(e: &Expression) -> String {
    source(e)
        .strip_prefix("aws_api_gateway_rest_api.")
        .and_then(|r| r.split('.').next())
        .unwrap_or_default()
        .to_string()
}
