//! OpenAPI (3 or Swagger 2) with `x-amazon-apigateway-integration`: standalone files, and the
//! `Body` / `DefinitionBody` of a CloudFormation or SAM API.

use super::tree::Node;
use super::{At, Hit, IntegrationFacts, UriKind, check_integration};

const METHODS: &[&str] = &[
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
    "x-amazon-apigateway-any-method",
];

pub fn is_definition(root: &Node) -> bool {
    root.get("openapi").is_some() || root.get("swagger").is_some()
}

/// What a definition sits in: a template resolves `!Ref`s and knows its functions' timeouts.
pub trait Context {
    /// The node a value stands for (a parameter's default for a `Ref`), or the node itself.
    fn resolve<'a>(&'a self, n: &'a Node) -> &'a Node;
    /// The text of a URI (a literal, or the template of a `Fn::Sub` / `Fn::Join`).
    fn text(&self, n: &Node) -> String;
    /// The timeout of the function a URI invokes, in seconds, if the template says.
    fn function_timeout(&self, uri: &Node) -> Option<f64>;
    /// Whether the function a URI invokes runs under the Web Adapter and streams.
    fn web_adapter_streams(&self, _uri: &Node) -> Option<At<bool>> {
        None
    }
}

/// A standalone file: values are what they say.
struct Plain;

impl Context for Plain {
    fn resolve<'a>(&'a self, n: &'a Node) -> &'a Node {
        n
    }
    fn text(&self, n: &Node) -> String {
        n.str().unwrap_or_default().to_string()
    }
    fn function_timeout(&self, _: &Node) -> Option<f64> {
        None
    }
}

/// The rules over every integration of a definition; and whether any of them streams.
pub fn check(root: &Node, ctx: &dyn Context) -> (Vec<Hit>, bool) {
    let mut hits = Vec::new();
    let mut streams = false;
    let Some(paths) = root.get("paths") else {
        return (hits, false);
    };
    for (_, item) in paths.entries() {
        for (method, op) in item.entries() {
            if !METHODS.contains(&method.to_ascii_lowercase().as_str()) {
                continue;
            }
            let Some(integ) = op.get("x-amazon-apigateway-integration") else {
                continue;
            };
            let facts = integration_facts(integ, ctx);
            streams |= facts.streams();
            hits.extend(check_integration(&facts));
        }
    }
    (hits, streams)
}

fn integration_facts(integ: &Node, ctx: &dyn Context) -> IntegrationFacts {
    let field = |k: &str| integ.get(k).map(|n| (ctx.resolve(n), n.line));
    IntegrationFacts {
        line: integ.line,
        mode: field("responseTransferMode").map(|(n, line)| At {
            value: n
                .str()
                .map_or_else(|| super::UNKNOWN.to_string(), str::to_ascii_uppercase),
            line,
        }),
        uri: match integ.get("uri") {
            Some(u) => At {
                value: UriKind::of_text(&ctx.text(u)),
                line: u.line,
            },
            None => At {
                value: UriKind::Unknown,
                line: integ.line,
            },
        },
        timeout_ms: field("timeoutInMillis").map(|(n, line)| At {
            value: n.num(),
            line,
        }),
        function_timeout_s: integ.get("uri").and_then(|u| ctx.function_timeout(u)),
        timeout_name: "timeoutInMillis",
        kind: field("type").map(|(n, line)| At {
            value: n
                .str()
                .map_or_else(|| super::UNKNOWN.to_string(), str::to_ascii_uppercase),
            line,
        }),
        web_adapter_streams: integ.get("uri").and_then(|u| ctx.web_adapter_streams(u)),
        ..IntegrationFacts::default()
    }
}

/// A standalone definition: its integrations, and compression set on a streaming API.
pub fn lint(root: &Node, _: Option<()>) -> Vec<Hit> {
    let (mut hits, streams) = check(root, &Plain);
    if streams && let Some(c) = root.get("x-amazon-apigateway-minimum-compression-size") {
        hits.extend(super::check_api(&super::ApiFacts {
            streams,
            endpoint: super::Endpoint::Unknown,
            line: root.line,
            compression: Some(c.line),
            caching: Vec::new(),
        }));
    }
    hits
}
