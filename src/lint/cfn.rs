//! CloudFormation and SAM templates: API Gateway methods and their integrations, the APIs and
//! stages around them, SAM's Api and HttpApi events, and HTTP API (v2) integrations.

use super::openapi::{self, Context};
use super::tree::{Node, Value};
use super::{
    ApiFacts, At, Endpoint, HTTP_API_CANNOT_STREAM, Hit, IntegrationFacts, SAM_STREAM_VALUE,
    UNKNOWN, UriKind, check_api, check_integration, hit,
};
use std::collections::{BTreeMap, HashSet};

/// The name SAM gives the API its Api events make when they name none.
const IMPLICIT_API: &str = "ServerlessRestApi";

/// Lambda's timeout when a function sets none.
const LAMBDA_DEFAULT_TIMEOUT_S: f64 = 3.0;

pub fn is_template(root: &Node) -> bool {
    root.get("Resources").is_some() || root.get("AWSTemplateFormatVersion").is_some()
}

struct Template<'a> {
    root: &'a Node,
}

impl Template<'_> {
    fn resources(&self) -> &[(String, Node)] {
        self.root.get("Resources").map_or(&[], Node::entries)
    }

    fn resource(&self, name: &str) -> Option<&Node> {
        self.root.at(&["Resources", name])
    }

    fn kind<'n>(&self, res: &'n Node) -> &'n str {
        res.get("Type").and_then(Node::str).unwrap_or("")
    }

    /// The logical id a `{Ref: X}` (or `{Fn::GetAtt: [X, ...]}`) names.
    fn referenced(n: &Node) -> Option<&str> {
        match n.intrinsic()? {
            ("Ref", v) => v.str(),
            ("Fn::GetAtt", v) => v.items().first().and_then(Node::str),
            _ => None,
        }
    }
}

impl Context for Template<'_> {
    fn resolve<'a>(&'a self, n: &'a Node) -> &'a Node {
        if let Some(("Ref", v)) = n.intrinsic()
            && let Some(name) = v.str()
            && let Some(default) = self.root.at(&["Parameters", name, "Default"])
        {
            return default;
        }
        n
    }

    fn text(&self, n: &Node) -> String {
        let n = self.resolve(n);
        match (&n.value, n.intrinsic()) {
            (Value::Str(s), _) => s.clone(),
            (_, Some(("Fn::Sub", v))) => match &v.value {
                Value::Str(s) => s.clone(),
                Value::Seq(parts) => parts.first().and_then(Node::str).unwrap_or("").to_string(),
                _ => String::new(),
            },
            (_, Some(("Fn::Join", v))) => {
                let parts = v.items();
                let sep = parts.first().and_then(Node::str).unwrap_or("");
                parts
                    .get(1)
                    .map(|list| {
                        list.items()
                            .iter()
                            .map(|p| p.str().map_or_else(|| "${?}".to_string(), String::from))
                            .collect::<Vec<_>>()
                            .join(sep)
                    })
                    .unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    fn function_timeout(&self, uri: &Node) -> Option<f64> {
        self.function_timeout_of(&self.function_in(uri)?)
    }

    fn web_adapter_streams(&self, uri: &Node) -> Option<At<bool>> {
        self.web_adapter_of(&self.function_in(uri)?)
    }
}

impl Template<'_> {
    /// The function of this template that a URI invokes: `${Fn.Arn}` in a Fn::Sub, or a GetAtt
    /// among a Fn::Join's parts.
    fn function_in(&self, uri: &Node) -> Option<String> {
        let text = self.text(uri);
        let from_sub = text.split("${").skip(1).find_map(|rest| {
            let name = rest.split(['}', '.']).next()?;
            self.function(name).map(|_| name.to_string())
        });
        from_sub.or_else(|| {
            let parts = uri.get("Fn::Join")?.items().get(1)?.items();
            parts.iter().find_map(|p| {
                Self::referenced(p)
                    .filter(|n| self.function(n).is_some())
                    .map(String::from)
            })
        })
    }

    /// The function resource `name`, if it is one.
    fn function(&self, name: &str) -> Option<&Node> {
        self.resource(name).filter(|res| {
            matches!(
                self.kind(res),
                "AWS::Serverless::Function" | "AWS::Lambda::Function"
            )
        })
    }

    /// A function property, or (SAM) its `Globals.Function` value.
    fn function_prop<'n>(&'n self, res: &'n Node, path: &[&str]) -> Option<&'n Node> {
        let mut own = vec!["Properties"];
        own.extend_from_slice(path);
        let mut global = vec!["Globals", "Function"];
        global.extend_from_slice(path);
        res.at(&own).or_else(|| self.root.at(&global))
    }

    /// Whether the function `name` runs under the Lambda Web Adapter (its layer, or the
    /// `/opt/bootstrap` exec wrapper) and, if so, whether it streams, at the deciding line.
    fn web_adapter_of(&self, name: &str) -> Option<At<bool>> {
        let res = self.function(name)?;
        let var = |v: &str| self.function_prop(res, &["Environment", "Variables", v]);
        let layer = self
            .function_prop(res, &["Layers"])
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .find(|l| {
                // A layer chosen by architecture: `!If [Cond, Arm64Layer, X86Layer]`.
                let choices = match l.intrinsic() {
                    Some(("Fn::If", v)) => v.items().iter().skip(1).collect(),
                    _ => vec![*l],
                };
                choices
                    .iter()
                    .any(|c| self.text(c).contains("LambdaAdapterLayer"))
            });
        let wrapper = var("AWS_LAMBDA_EXEC_WRAPPER")
            .filter(|w| self.resolve(w).str() == Some("/opt/bootstrap"));
        let marker = layer.or(wrapper)?;
        Some(match var("AWS_LWA_INVOKE_MODE") {
            Some(m) => At {
                value: self
                    .resolve(m)
                    .str()
                    .is_some_and(|v| v.eq_ignore_ascii_case("response_stream")),
                line: m.line,
            },
            None => At {
                value: false,
                line: marker.line,
            },
        })
    }

    /// Whether an `AWS::Lambda::Permission` lets API Gateway invoke the function `name`.
    fn permitted(&self, name: &str) -> bool {
        self.resources().iter().any(|(_, res)| {
            self.kind(res) == "AWS::Lambda::Permission"
                && res.at(&["Properties", "FunctionName"]).is_some_and(|f| {
                    Self::referenced(f) == Some(name)
                        || self.text(f).contains(&format!("${{{name}"))
                })
                && res
                    .at(&["Properties", "Principal"])
                    .is_some_and(|p| self.text(p).contains("apigateway"))
        })
    }

    fn function_timeout_of(&self, name: &str) -> Option<f64> {
        let res = self.function(name)?;
        let own = res
            .at(&["Properties", "Timeout"])
            .map(|t| self.resolve(t))
            .and_then(Node::num);
        let global = self
            .root
            .at(&["Globals", "Function", "Timeout"])
            .map(|t| self.resolve(t))
            .and_then(Node::num);
        Some(own.or(global).unwrap_or(LAMBDA_DEFAULT_TIMEOUT_S))
    }

    /// A setting's value upper-cased, or [`UNKNOWN`] when the template does not say it plainly.
    fn upper(&self, n: &Node) -> At<String> {
        At {
            value: self
                .resolve(n)
                .str()
                .map_or_else(|| UNKNOWN.to_string(), str::to_ascii_uppercase),
            line: n.line,
        }
    }

    /// A numeric setting: where it is, and its value when plain.
    fn number(&self, n: &Node) -> At<Option<f64>> {
        At {
            value: self.resolve(n).num(),
            line: n.line,
        }
    }

    fn method_integration(&self, integ: &Node) -> IntegrationFacts {
        let function = integ.get("Uri").and_then(|u| self.function_in(u));
        IntegrationFacts {
            kind: integ.get("Type").map(|n| self.upper(n)),
            web_adapter_streams: function.as_deref().and_then(|f| self.web_adapter_of(f)),
            permitted: function.as_deref().map(|f| self.permitted(f)),
            data_source_arn: false,
            line: integ.line,
            mode: integ.get("ResponseTransferMode").map(|n| self.upper(n)),
            uri: match integ.get("Uri") {
                Some(u) => At {
                    value: UriKind::of_text(&self.text(u)),
                    line: u.line,
                },
                None => At {
                    value: UriKind::Unknown,
                    line: integ.line,
                },
            },
            timeout_ms: integ.get("TimeoutInMillis").map(|n| self.number(n)),
            function_timeout_s: integ.get("Uri").and_then(|u| self.function_timeout(u)),
            timeout_name: "TimeoutInMillis",
        }
    }

    /// A SAM function's Api event with `ResponseTransferMode`. Returns the API a streaming
    /// event attaches to (its `RestApiId`, or SAM's implicit API, [`IMPLICIT_API`]) and the
    /// event's line.
    fn sam_event(
        &self,
        fn_name: &str,
        event: &Node,
        hits: &mut Vec<Hit>,
    ) -> Option<(String, usize)> {
        let kind = event.get("Type").and_then(Node::str).unwrap_or("");
        let props = event.get("Properties")?;
        let mode = props.get("ResponseTransferMode").map(|n| self.upper(n))?;
        match kind {
            "HttpApi" => hits.push(hit(
                HTTP_API_CANNOT_STREAM,
                mode.line,
                "ResponseTransferMode on an HttpApi event: HTTP APIs do not stream",
            )),
            "Api" if mode.value == "STREAM" => hits.push(hit(
                SAM_STREAM_VALUE,
                mode.line,
                "SAM's Api event takes RESPONSE_STREAM, not STREAM",
            )),
            "Api" if mode.value == "RESPONSE_STREAM" => {
                // SAM builds the STREAM integration with the streaming URI; the timeout is ours.
                hits.extend(check_integration(&IntegrationFacts {
                    line: event.line,
                    mode: Some(At {
                        value: "STREAM".into(),
                        line: mode.line,
                    }),
                    uri: At {
                        value: UriKind::Streaming,
                        line: event.line,
                    },
                    timeout_ms: props.get("TimeoutInMillis").map(|n| self.number(n)),
                    function_timeout_s: self.function_timeout_of(fn_name),
                    timeout_name: "TimeoutInMillis on the Api event",
                    web_adapter_streams: self.web_adapter_of(fn_name),
                    ..IntegrationFacts::default()
                }));
                let api = props
                    .get("RestApiId")
                    .and_then(Template::referenced)
                    .unwrap_or(IMPLICIT_API);
                return Some((api.to_string(), event.line));
            }
            _ => {}
        }
        None
    }
}

impl Template<'_> {
    /// A REST API's facts: its OpenAPI body's integrations, endpoint type, compression and
    /// (SAM) stage caching.
    fn rest_api(
        &self,
        kind: &str,
        props: Option<&Node>,
        facts: &mut ApiFacts,
        hits: &mut Vec<Hit>,
    ) {
        // A SAM API takes what it leaves unset from Globals.Api.
        let globals = (kind == "AWS::Serverless::Api")
            .then(|| self.root.at(&["Globals", "Api"]))
            .flatten();
        let prop = |k: &str| props.and_then(|p| p.get(k)).or_else(|| globals?.get(k));
        if let Some(body) = prop("Body").or_else(|| prop("DefinitionBody")) {
            let (h, streams) = openapi::check(body, self);
            hits.extend(h);
            facts.streams |= streams;
        }
        facts.endpoint = match prop("EndpointConfiguration") {
            None => Endpoint::Default,
            Some(e) => {
                // RestApi: {Types: [X]}; Serverless::Api: X or {Type: X}.
                let n = e
                    .get("Types")
                    .and_then(|types| types.items().first())
                    .or_else(|| e.get("Type"))
                    .unwrap_or(e);
                Endpoint::Set(self.upper(n))
            }
        };
        facts.compression = prop("MinimumCompressionSize").map(|n| n.line);
        if kind == "AWS::Serverless::Api" {
            facts.caching.extend(stage_caching(self, props));
            facts.caching.extend(stage_caching(self, globals));
        }
    }
}

pub fn lint(root: &Node) -> Vec<Hit> {
    let t = Template { root };
    let mut hits = Vec::new();
    let mut streaming_apis: HashSet<String> = HashSet::new();
    let mut apis: BTreeMap<String, ApiFacts> = BTreeMap::new();
    for (name, res) in t.resources() {
        let props = res.get("Properties");
        let prop = |k: &str| props.and_then(|p| p.get(k));
        match t.kind(res) {
            "AWS::ApiGateway::Method" => {
                let Some(integ) = prop("Integration") else {
                    continue;
                };
                let facts = t.method_integration(integ);
                if facts.streams()
                    && let Some(api) = prop("RestApiId").and_then(Template::referenced)
                {
                    streaming_apis.insert(api.to_string());
                }
                hits.extend(check_integration(&facts));
            }
            kind @ ("AWS::ApiGateway::RestApi" | "AWS::Serverless::Api") => {
                // A stage may have been seen first: add to what it recorded.
                let facts = apis.entry(name.clone()).or_default();
                facts.line = res.line;
                t.rest_api(kind, props, facts, &mut hits);
            }
            "AWS::ApiGateway::Stage" => {
                let lines = stage_caching(&t, props);
                let api = prop("RestApiId")
                    .and_then(Template::referenced)
                    .unwrap_or_default()
                    .to_string();
                apis.entry(api).or_default().caching.extend(lines);
            }
            "AWS::Serverless::Function" => {
                if let Some(events) = prop("Events") {
                    for (_, ev) in events.entries() {
                        if let Some((api, line)) = t.sam_event(name, ev, &mut hits) {
                            if api == IMPLICIT_API && !apis.contains_key(IMPLICIT_API) {
                                // SAM's implicit API: what Globals.Api says, at the first
                                // streaming event (it has no line of its own).
                                let facts = apis.entry(api.clone()).or_default();
                                facts.line = line;
                                t.rest_api("AWS::Serverless::Api", None, facts, &mut hits);
                            }
                            streaming_apis.insert(api);
                        }
                    }
                }
            }
            "AWS::ApiGatewayV2::Integration" => {
                let uri = prop("IntegrationUri").map(|u| (UriKind::of_text(&t.text(u)), u.line));
                let mode = prop("ResponseTransferMode");
                if let Some(line) = mode.map(|m| m.line).or(uri
                    .filter(|(k, _)| *k == UriKind::Streaming)
                    .map(|(_, l)| l))
                {
                    hits.push(hit(
                        HTTP_API_CANNOT_STREAM,
                        line,
                        "an HTTP API (v2) integration set up to stream",
                    ));
                }
            }
            _ => {}
        }
    }
    for (name, mut api) in apis {
        api.streams |= streaming_apis.contains(&name);
        // A stage whose API is not in this template has nothing to stand on.
        if api.line == 0 {
            continue;
        }
        hits.extend(check_api(&api));
    }
    hits
}

/// Lines where a stage turns caching on: the cache cluster, or caching in a method setting.
fn stage_caching(t: &Template<'_>, props: Option<&Node>) -> Vec<usize> {
    let Some(p) = props else { return Vec::new() };
    let mut lines = Vec::new();
    if let Some(c) = p.get("CacheClusterEnabled")
        && t.resolve(c).bool() == Some(true)
    {
        lines.push(c.line);
    }
    for s in p.get("MethodSettings").map_or(&[][..], Node::items) {
        if let Some(c) = s.get("CachingEnabled")
            && t.resolve(c).bool() == Some(true)
        {
            lines.push(c.line);
        }
    }
    lines
}
