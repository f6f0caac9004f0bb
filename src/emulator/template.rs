//! A SAM or CloudFormation template read as a local stack: its functions and the API methods
//! that invoke them, with parameters (defaults and overrides), conditions, `Globals` and nested
//! applications (`AWS::Serverless::Application` with a local `Location`) resolved. What it does
//! not read is listed ([`Stack::ignored`]) so that `local` says it at start, never silently.

use crate::lint::tree::{self, Node, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a template cannot run locally.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("{file}:{line}: {what} cannot be resolved locally{hint}")]
    Unresolvable {
        file: String,
        line: usize,
        what: String,
        hint: String,
    },
    #[error("{file}:{line}: {why}")]
    Refused {
        file: String,
        line: usize,
        why: String,
    },
    #[error("the template defines no API method that invokes one of its functions")]
    Nothing,
}

/// A function of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    /// `CodeUri`, from the template's directory.
    pub code_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout_s: f64,
    pub memory_mb: u32,
    pub reserved: Option<u32>,
    /// Runs under the Lambda Web Adapter (its layer, or `AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap`).
    pub web_adapter: bool,
}

/// An API method that invokes a function.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodDef {
    /// `GET`, `ANY`...
    pub http_method: String,
    /// `/`, `/download`, `/{proxy+}`.
    pub path: String,
    pub stage: String,
    pub function: String,
    /// `STREAM` or `BUFFERED`.
    pub mode: String,
    /// TimeoutInMillis, None when unset (29 s on AWS).
    pub timeout_ms: Option<u64>,
    pub api_key_required: bool,
    /// The usage plan's rate, burst and daily quota.
    pub usage: Option<(f64, u32, Option<u64>)>,
    /// `EDGE` when no endpoint type is set.
    pub endpoint: String,
}

/// What `local` runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stack {
    pub functions: Vec<FunctionDef>,
    pub methods: Vec<MethodDef>,
    /// Resources and settings read but not emulated, one line each.
    pub ignored: Vec<String>,
}

/// A resolved value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    List(Vec<Val>),
    /// A function of the stack (`!Ref Fn`, `!GetAtt Fn.Arn`, or a parameter holding one).
    Function(String),
    Null,
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Function(f) => format!("{FUNCTION_ARN}{f}"),
            Val::List(l) => l.iter().map(Val::text).collect::<Vec<_>>().join(","),
            Val::Null => String::new(),
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn truth(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Str(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }
}

/// How a function's ARN reads inside a resolved string.
const FUNCTION_ARN: &str = "arn:aws:lambda:local:000000000000:function:";

/// One template being read, with its parameters' values.
struct Ctx<'a> {
    root: &'a Node,
    file: String,
    dir: PathBuf,
    params: HashMap<String, Val>,
    /// The template's usage plans, read once.
    plans: Vec<UsagePlan>,
}

/// A usage plan: the stages it covers (none named: every stage) and its rate, burst and quota.
struct UsagePlan {
    stages: Vec<String>,
    limits: (f64, u32, Option<u64>),
}

impl Ctx<'_> {
    /// The usage plan that covers `stage`, if any.
    fn usage_for(&self, stage: &str) -> Option<(f64, u32, Option<u64>)> {
        self.plans
            .iter()
            .find(|p| p.stages.is_empty() || p.stages.iter().any(|s| s == stage))
            .map(|p| p.limits)
    }

    fn unresolvable(&self, n: &Node, what: &str) -> TemplateError {
        let hint = if what.contains("ImportValue") {
            ": another stack's export; give the value with --parameter-overrides instead"
        } else {
            ""
        };
        TemplateError::Unresolvable {
            file: self.file.clone(),
            line: n.line,
            what: what.to_string(),
            hint: hint.to_string(),
        }
    }

    fn is_function(&self, name: &str) -> bool {
        self.root
            .at(&["Resources", name, "Type"])
            .and_then(Node::str)
            .is_some_and(|t| t == "AWS::Serverless::Function" || t == "AWS::Lambda::Function")
    }

    fn reference(&self, n: &Node, name: &str) -> Result<Val, TemplateError> {
        if let Some(v) = self.params.get(name) {
            return Ok(v.clone());
        }
        Ok(match name {
            "AWS::Region" => Val::Str("us-east-1".into()),
            "AWS::Partition" => Val::Str("aws".into()),
            "AWS::AccountId" => Val::Str("000000000000".into()),
            "AWS::StackName" => Val::Str("local".into()),
            "AWS::URLSuffix" => Val::Str("amazonaws.com".into()),
            "AWS::NoValue" => Val::Null,
            f if self.is_function(f) => Val::Function(f.to_string()),
            r if self.root.at(&["Resources", r]).is_some() => Val::Str(r.to_string()),
            other => return Err(self.unresolvable(n, &format!("!Ref {other}"))),
        })
    }

    fn condition(&self, n: &Node, name: &str) -> Result<bool, TemplateError> {
        let c = self
            .root
            .at(&["Conditions", name])
            .ok_or_else(|| self.unresolvable(n, &format!("the condition {name}")))?;
        Ok(self.eval(c)?.truth())
    }

    /// `${X}` / `${X.Arn}` in a `Fn::Sub` template.
    fn sub(&self, n: &Node, text: &str, vars: &HashMap<String, Val>) -> Result<Val, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| self.unresolvable(n, "an unclosed ${ in Fn::Sub"))?;
            let name = &after[..end];
            let base = name.split('.').next().unwrap_or(name);
            let v = match vars.get(name) {
                Some(v) => v.clone(),
                None if name.starts_with('!') => Val::Str(format!("${{{}}}", &name[1..])),
                None => self.reference(n, base)?,
            };
            out.push_str(&v.text());
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Val::Str(out))
    }

    fn eval(&self, n: &Node) -> Result<Val, TemplateError> {
        if let Some((k, v)) = n.intrinsic() {
            return self.intrinsic(n, k, v);
        }
        Ok(match &n.value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Num(x) => Val::Num(*x),
            Value::Str(s) => Val::Str(s.clone()),
            Value::Seq(items) => Val::List(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(_) => Val::Null,
        })
    }

    fn get_att(&self, n: &Node, v: &Node) -> Result<Val, TemplateError> {
        let parts: Vec<String> = match &v.value {
            Value::Str(s) => s.split('.').map(String::from).collect(),
            _ => v
                .items()
                .iter()
                .filter_map(|p| p.str().map(String::from))
                .collect(),
        };
        match parts.first() {
            Some(f) if self.is_function(f) => Ok(Val::Function(f.clone())),
            Some(r) if self.root.at(&["Resources", r]).is_some() => {
                Ok(Val::Str(format!("{r}.{}", parts[1..].join("."))))
            }
            _ => Err(self.unresolvable(n, &format!("!GetAtt {}", parts.join(".")))),
        }
    }

    fn fn_sub(&self, n: &Node, v: &Node) -> Result<Val, TemplateError> {
        match &v.value {
            Value::Str(s) => self.sub(n, s, &HashMap::new()),
            Value::Seq(parts) => {
                let text = parts.first().and_then(Node::str).unwrap_or_default();
                let mut vars = HashMap::new();
                if let Some(m) = parts.get(1) {
                    for (name, node) in m.entries() {
                        vars.insert(name.clone(), self.eval(node)?);
                    }
                }
                self.sub(n, text, &vars)
            }
            _ => Err(self.unresolvable(n, "Fn::Sub")),
        }
    }

    fn intrinsic(&self, n: &Node, k: &str, v: &Node) -> Result<Val, TemplateError> {
        match k {
            "Ref" => self.reference(n, v.str().unwrap_or_default()),
            "Condition" => Ok(Val::Bool(self.condition(n, v.str().unwrap_or_default())?)),
            "Fn::GetAtt" => self.get_att(n, v),
            "Fn::Sub" => self.fn_sub(n, v),
            "Fn::Join" => {
                let items = v.items();
                let sep = items.first().and_then(Node::str).unwrap_or_default();
                let list = items.get(1).map(|l| self.eval(l)).transpose()?;
                let parts = match list {
                    Some(Val::List(l)) => l,
                    _ => Vec::new(),
                };
                Ok(Val::Str(
                    parts.iter().map(Val::text).collect::<Vec<_>>().join(sep),
                ))
            }
            "Fn::If" => {
                let items = v.items();
                let (Some(c), Some(a), Some(b)) = (items.first(), items.get(1), items.get(2))
                else {
                    return Err(self.unresolvable(n, "Fn::If"));
                };
                if self.condition(n, c.str().unwrap_or_default())? {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            "Fn::Equals" => {
                let items = v.items();
                let a = items.first().map(|a| self.eval(a)).transpose()?;
                let b = items.get(1).map(|b| self.eval(b)).transpose()?;
                Ok(Val::Bool(a.map(|a| a.text()) == b.map(|b| b.text())))
            }
            "Fn::Not" => Ok(Val::Bool(
                !v.items()
                    .first()
                    .map(|c| self.eval(c))
                    .transpose()?
                    .is_some_and(|c| c.truth()),
            )),
            "Fn::And" | "Fn::Or" => {
                let all: Vec<bool> = v
                    .items()
                    .iter()
                    .map(|c| self.eval(c).map(|c| c.truth()))
                    .collect::<Result<_, _>>()?;
                Ok(Val::Bool(if k == "Fn::And" {
                    all.iter().all(|b| *b)
                } else {
                    all.iter().any(|b| *b)
                }))
            }
            other => Err(self.unresolvable(n, other)),
        }
    }
}

/// The function a resolved integration URI invokes, and whether it is the streaming URI.
fn uri_function(uri: &str) -> Option<(String, bool)> {
    let name = uri.split(FUNCTION_ARN).nth(1)?;
    let name = name.split(['/', ':']).next()?.to_string();
    Some((name, uri.contains("response-streaming-invocations")))
}

/// `K=V` pairs, several to an argument as SAM's `--parameter-overrides` takes them.
pub fn key_values(items: &[String], what: &str) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .flat_map(|i| i.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{kv:?}: write {what} as KEY=VALUE")),
        })
        .collect()
}

/// Reads `path` with `overrides` (`K=V`) over its parameters' defaults.
pub fn read(path: &Path, overrides: &[(String, String)]) -> Result<Stack, TemplateError> {
    let mut stack = Stack::default();
    let params = overrides
        .iter()
        .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
        .collect();
    read_into(path, params, &mut stack, 0)?;
    if stack.methods.is_empty() {
        return Err(TemplateError::Nothing);
    }
    Ok(stack)
}

fn read_into(
    path: &Path,
    given: HashMap<String, Val>,
    stack: &mut Stack,
    depth: usize,
) -> Result<(), TemplateError> {
    let file = path.display().to_string();
    let text = crate::disk::read_input_text(path, crate::disk::TEMPLATE_CAP)
        .map_err(|e| TemplateError::Read(file.clone(), e.to_string()))?;
    // CodeUri and Location are relative to the template: from an absolute directory, so that a
    // function started in its own directory finds its command.
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let root = tree::parse(&text).map_err(|e| TemplateError::Parse(file.clone(), e.to_string()))?;
    let mut ctx = Ctx {
        root: &root,
        file: file.clone(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        params: HashMap::new(),
        plans: Vec::new(),
    };
    ctx.params = parameters(&ctx, given, depth)?;
    ctx.plans = usage_plans(&ctx)?;
    for (name, res) in root.get("Resources").map_or(&[][..], Node::entries) {
        if let Some(c) = res.get("Condition").and_then(Node::str)
            && !ctx.condition(res, c)?
        {
            continue;
        }
        let kind = res.get("Type").and_then(Node::str).unwrap_or_default();
        match kind {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                stack.functions.push(function(&ctx, name, res)?);
                sam_events(&ctx, name, res, stack)?;
            }
            "AWS::ApiGateway::Method" => method(&ctx, res, stack)?,
            "AWS::Serverless::Application" => {
                nested(&ctx, name, res, stack, depth)?;
            }
            "AWS::ApiGateway::RestApi" | "AWS::Serverless::Api" => {
                openapi_methods(&ctx, name, res, stack)?;
            }
            "AWS::ApiGateway::Resource"
            | "AWS::ApiGateway::Stage"
            | "AWS::ApiGateway::Deployment"
            | "AWS::ApiGateway::UsagePlan"
            | "AWS::ApiGateway::ApiKey"
            | "AWS::ApiGateway::UsagePlanKey"
            | "AWS::Lambda::Permission" => {}
            other => stack
                .ignored
                .push(format!("{file}: {name} ({other}): not emulated")),
        }
    }
    Ok(())
}

/// The template's parameters: the values `given` (overrides, or a parent stack's), else each
/// one's Default. A value for an undeclared parameter, or none for one without a Default, is
/// refused as CloudFormation refuses it.
fn parameters(
    ctx: &Ctx<'_>,
    given: HashMap<String, Val>,
    depth: usize,
) -> Result<HashMap<String, Val>, TemplateError> {
    let root = ctx.root;
    let declared = root.get("Parameters").map_or(&[][..], Node::entries);
    let mut unknown: Vec<&String> = given
        .keys()
        .filter(|k| !declared.iter().any(|(name, _)| name == *k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        let names = unknown
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(TemplateError::Refused {
            file: ctx.file.clone(),
            line: root.get("Parameters").map_or(1, |p| p.line),
            why: format!(
                "no parameter {names} in this template (CloudFormation: Parameters: [{names}] do not exist in the template)"
            ),
        });
    }
    let mut params = HashMap::new();
    for (name, p) in declared {
        let v = match given.get(name) {
            Some(v) => v.clone(),
            None => match p.get("Default") {
                Some(d) => ctx.eval(d)?,
                // CloudFormation refuses the stack: "Parameters: [X] must have values".
                None => {
                    return Err(TemplateError::Refused {
                        file: ctx.file.clone(),
                        line: p.line,
                        why: if depth == 0 {
                            format!(
                                "the parameter {name} has no Default: give it a value (--parameter-overrides {name}=VALUE), as CloudFormation requires"
                            )
                        } else {
                            format!(
                                "the parameter {name} has no Default and the parent stack gives it no value (CloudFormation: Parameters: [{name}] must have values)"
                            )
                        },
                    });
                }
            },
        };
        check_parameter(ctx, name, p, &v)?;
        params.insert(name.clone(), v);
    }
    Ok(params)
}

/// CloudFormation's checks of a parameter's value (given or default): its `AllowedValues`, a
/// `Number`'s `MinValue`/`MaxValue`, a `String`'s `MinLength`/`MaxLength`. `AllowedPattern` is
/// not checked here.
fn check_parameter(ctx: &Ctx<'_>, name: &str, p: &Node, v: &Val) -> Result<(), TemplateError> {
    let refuse = |why: String| TemplateError::Refused {
        file: ctx.file.clone(),
        line: p.line,
        why: format!("the parameter {name} {why} (CloudFormation refuses the stack)"),
    };
    let text = v.text();
    if let Some(allowed) = p.get("AllowedValues") {
        let allowed = allowed
            .items()
            .iter()
            .map(|a| ctx.eval(a).map(|a| a.text()))
            .collect::<Result<Vec<_>, _>>()?;
        if !allowed.contains(&text) {
            return Err(refuse(format!(
                "is {text:?}, not one of its AllowedValues ({})",
                allowed.join(", ")
            )));
        }
    }
    let bound = |key: &str| -> Result<Option<f64>, TemplateError> {
        Ok(p.get(key)
            .map(|n| ctx.eval(n))
            .transpose()?
            .and_then(|b| b.num()))
    };
    let (what, got, min, max) = if p.get("Type").and_then(Node::str) == Some("Number") {
        let Some(n) = v.num() else {
            return Err(refuse(format!("is {text:?}, not a number")));
        };
        ("", n, bound("MinValue")?, bound("MaxValue")?)
    } else {
        let len = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
        (
            " characters long",
            f64::from(len),
            bound("MinLength")?,
            bound("MaxLength")?,
        )
    };
    if let Some(min) = min.filter(|m| got < *m) {
        return Err(refuse(format!(
            "is {got}{what}, less than its minimum {min}"
        )));
    }
    if let Some(max) = max.filter(|m| got > *m) {
        return Err(refuse(format!(
            "is {got}{what}, more than its maximum {max}"
        )));
    }
    Ok(())
}

fn nested(
    ctx: &Ctx<'_>,
    name: &str,
    res: &Node,
    stack: &mut Stack,
    depth: usize,
) -> Result<(), TemplateError> {
    let props = res.get("Properties");
    let location = props
        .and_then(|p| p.get("Location"))
        .map(|l| ctx.eval(l))
        .transpose()?
        .map(|l| l.text())
        .unwrap_or_default();
    if location.contains("://") || location.is_empty() || depth > 4 {
        stack.ignored.push(format!(
            "{}: {name}: an application from {location:?} (only a local Location is read)",
            ctx.file
        ));
        return Ok(());
    }
    let mut given = HashMap::new();
    for (k, v) in props
        .and_then(|p| p.get("Parameters"))
        .map_or(&[][..], Node::entries)
    {
        given.insert(k.clone(), ctx.eval(v)?);
    }
    read_into(&ctx.dir.join(location), given, stack, depth + 1)
}

/// A property of a function, or its `Globals.Function` value.
fn fn_prop<'n>(ctx: &'n Ctx<'_>, res: &'n Node, key: &str) -> Option<&'n Node> {
    res.at(&["Properties", key])
        .or_else(|| ctx.root.at(&["Globals", "Function", key]))
}

fn function(ctx: &Ctx<'_>, name: &str, res: &Node) -> Result<FunctionDef, TemplateError> {
    let text = |key: &str| -> Result<String, TemplateError> {
        Ok(fn_prop(ctx, res, key)
            .map(|n| ctx.eval(n))
            .transpose()?
            .map(|v| v.text())
            .unwrap_or_default())
    };
    let num = |key: &str| -> Result<Option<f64>, TemplateError> {
        Ok(fn_prop(ctx, res, key)
            .map(|n| ctx.eval(n))
            .transpose()?
            .and_then(|v| v.num()))
    };
    let mut env = Vec::new();
    // Globals' variables first, the function's own over them.
    for vars in [
        ctx.root
            .at(&["Globals", "Function", "Environment", "Variables"]),
        res.at(&["Properties", "Environment", "Variables"]),
    ]
    .into_iter()
    .flatten()
    {
        for (k, v) in vars.entries() {
            let v = ctx.eval(v)?.text();
            env.retain(|(name, _): &(String, String)| name != k);
            env.push((k.clone(), v));
        }
    }
    let layers = fn_prop(ctx, res, "Layers")
        .map(|l| ctx.eval(l))
        .transpose()?;
    let web_adapter = layers.is_some_and(|l| l.text().contains("LambdaAdapterLayer"))
        || env
            .iter()
            .any(|(k, v)| k == "AWS_LAMBDA_EXEC_WRAPPER" && v == "/opt/bootstrap");
    Ok(FunctionDef {
        name: name.to_string(),
        runtime: text("Runtime")?,
        handler: text("Handler")?,
        code_dir: ctx.dir.join(text("CodeUri")?),
        env,
        timeout_s: num("Timeout")?.unwrap_or(3.0),
        memory_mb: num("MemorySize")?.map_or(128, |m| m as u32),
        reserved: num("ReservedConcurrentExecutions")?.map(|r| r as u32),
        web_adapter,
    })
}

/// The API's stage, endpoint type and usage plan for an explicit SAM or CFN API `api` (None:
/// SAM's implicit API, stage `Prod`).
fn api_setting(ctx: &Ctx<'_>, api: Option<&str>) -> Result<(String, String), TemplateError> {
    let props = api.and_then(|a| ctx.root.at(&["Resources", a, "Properties"]));
    let globals = ctx.root.at(&["Globals", "Api"]);
    let prop = |k: &str| props.and_then(|p| p.get(k)).or_else(|| globals?.get(k));
    let mut stage = match prop("StageName") {
        Some(s) => ctx.eval(s)?.text(),
        None => "Prod".into(),
    };
    // A CFN RestApi's stage is its AWS::ApiGateway::Stage's.
    if let Some(api) = api {
        for (_, res) in ctx.root.get("Resources").map_or(&[][..], Node::entries) {
            if res.get("Type").and_then(Node::str) == Some("AWS::ApiGateway::Stage")
                && let Some(r) = res.at(&["Properties", "RestApiId"])
                && ctx.eval(r)?.text() == api
                && let Some(s) = res.at(&["Properties", "StageName"])
            {
                stage = ctx.eval(s)?.text();
            }
        }
    }
    let endpoint = match prop("EndpointConfiguration") {
        None => "EDGE".to_string(),
        Some(e) => {
            let n = e
                .get("Types")
                .and_then(|t| t.items().first())
                .or_else(|| e.get("Type"))
                .unwrap_or(e);
            ctx.eval(n)?.text().to_ascii_uppercase()
        }
    };
    Ok((stage, endpoint))
}

/// The usage plan of the template (the first), as rate, burst and quota.
/// Every `AWS::ApiGateway::UsagePlan` of the template with a throttle or a quota, with the stages
/// of its `ApiStages`.
fn usage_plans(ctx: &Ctx<'_>) -> Result<Vec<UsagePlan>, TemplateError> {
    let mut plans = Vec::new();
    for (_, res) in ctx.root.get("Resources").map_or(&[][..], Node::entries) {
        if res.get("Type").and_then(Node::str) != Some("AWS::ApiGateway::UsagePlan") {
            continue;
        }
        if let Some(c) = res.get("Condition").and_then(Node::str)
            && !ctx.condition(res, c)?
        {
            continue;
        }
        let num = |path: &[&str]| -> Result<Option<f64>, TemplateError> {
            Ok(res
                .at(path)
                .map(|n| ctx.eval(n))
                .transpose()?
                .and_then(|v| v.num()))
        };
        let rate = num(&["Properties", "Throttle", "RateLimit"])?;
        let burst = num(&["Properties", "Throttle", "BurstLimit"])?;
        let quota = num(&["Properties", "Quota", "Limit"])?;
        if rate.is_none() && burst.is_none() && quota.is_none() {
            continue;
        }
        let mut stages = Vec::new();
        for s in res
            .at(&["Properties", "ApiStages"])
            .map_or(&[][..], Node::items)
        {
            if let Some(stage) = s.get("Stage") {
                stages.push(ctx.eval(stage)?.text());
            }
        }
        plans.push(UsagePlan {
            stages,
            limits: (
                rate.unwrap_or(10_000.0),
                burst.map_or(5_000, |b| b as u32),
                quota.map(|q| q as u64),
            ),
        });
    }
    Ok(plans)
}

fn sam_events(
    ctx: &Ctx<'_>,
    fn_name: &str,
    res: &Node,
    stack: &mut Stack,
) -> Result<(), TemplateError> {
    let Some(events) = res.at(&["Properties", "Events"]) else {
        return Ok(());
    };
    for (ev_name, ev) in events.entries() {
        let kind = ev.get("Type").and_then(Node::str).unwrap_or_default();
        if kind != "Api" {
            stack.ignored.push(format!(
                "{}: {fn_name}.{ev_name} ({kind} event): not emulated",
                ctx.file
            ));
            continue;
        }
        let Some(p) = ev.get("Properties") else {
            continue;
        };
        let get = |k: &str| -> Result<Option<Val>, TemplateError> {
            p.get(k).map(|n| ctx.eval(n)).transpose()
        };
        let api = match p.get("RestApiId") {
            Some(r) => Some(ctx.eval(r)?.text()),
            None => None,
        };
        let (stage, endpoint) = api_setting(ctx, api.as_deref())?;
        let mode = match get("ResponseTransferMode")?.map(|v| v.text()) {
            Some(m) if m == "RESPONSE_STREAM" => "STREAM".to_string(),
            Some(m) if m == "STREAM" => {
                return Err(TemplateError::Refused {
                    file: ctx.file.clone(),
                    line: ev.line,
                    why: "SAM's Api event takes RESPONSE_STREAM, not STREAM (SAM refuses the template)".into(),
                });
            }
            _ => "BUFFERED".to_string(),
        };
        let key = p
            .at(&["Auth", "ApiKeyRequired"])
            .map(|n| ctx.eval(n))
            .transpose()?
            .is_some_and(|v| v.truth())
            || ctx
                .root
                .at(&["Globals", "Api", "Auth", "ApiKeyRequired"])
                .map(|n| ctx.eval(n))
                .transpose()?
                .is_some_and(|v| v.truth());
        let usage = ctx.usage_for(&stage);
        stack.methods.push(MethodDef {
            http_method: get("Method")?.map_or("ANY".into(), |m| m.text().to_ascii_uppercase()),
            path: get("Path")?.map_or("/".into(), |p| p.text()),
            stage,
            function: fn_name.to_string(),
            mode,
            timeout_ms: get("TimeoutInMillis")?
                .and_then(|v| v.num())
                .map(|t| t as u64),
            api_key_required: key,
            usage,
            endpoint,
        });
    }
    Ok(())
}

/// The path of an `AWS::ApiGateway::Resource` (its parts up to the API's root).
fn resource_path(ctx: &Ctx<'_>, id: &Node) -> Result<String, TemplateError> {
    let v = ctx.eval(id)?.text();
    if v.ends_with(".RootResourceId") {
        return Ok("/".into());
    }
    let Some(res) = ctx.root.at(&["Resources", &v]) else {
        return Err(ctx.unresolvable(id, &format!("the resource {v}")));
    };
    let part = res
        .at(&["Properties", "PathPart"])
        .map(|p| ctx.eval(p))
        .transpose()?
        .map(|p| p.text())
        .unwrap_or_default();
    let parent = match res.at(&["Properties", "ParentId"]) {
        Some(p) => resource_path(ctx, p)?,
        None => "/".into(),
    };
    Ok(format!("{}/{part}", parent.trim_end_matches('/')))
}

/// The methods of an API's OpenAPI body (`DefinitionBody`, `Body`) whose
/// `x-amazon-apigateway-integration` invokes a function of the stack.
fn openapi_methods(
    ctx: &Ctx<'_>,
    api: &str,
    res: &Node,
    stack: &mut Stack,
) -> Result<(), TemplateError> {
    let Some(body) = res
        .at(&["Properties", "DefinitionBody"])
        .or_else(|| res.at(&["Properties", "Body"]))
    else {
        return Ok(());
    };
    let (stage, endpoint) = api_setting(ctx, Some(api))?;
    for (path, item) in body.get("paths").map_or(&[][..], Node::entries) {
        for (verb, op) in item.entries() {
            let Some(integ) = op.get("x-amazon-apigateway-integration") else {
                continue;
            };
            let field = |k: &str| integ.get(k).map(|n| ctx.eval(n)).transpose();
            let uri = field("uri")?.map(|u| u.text()).unwrap_or_default();
            let Some((function, streaming_uri)) = uri_function(&uri) else {
                stack.ignored.push(format!(
                    "{}:{}: {verb} {path}: an integration that is not a function of this stack",
                    ctx.file, integ.line
                ));
                continue;
            };
            let mode = field("responseTransferMode")?
                .map_or("BUFFERED".into(), |m| m.text().to_ascii_uppercase());
            refuse_mismatch(ctx, integ, &mode, streaming_uri)?;
            let http_method = match verb.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_string(),
                v => v.to_ascii_uppercase(),
            };
            stack.methods.push(MethodDef {
                http_method,
                path: path.clone(),
                stage: stage.clone(),
                function,
                mode,
                timeout_ms: field("timeoutInMillis")?
                    .and_then(|t| t.num())
                    .map(|t| t as u64),
                api_key_required: op
                    .get("security")
                    .is_some_and(|s| s.items().iter().any(|r| r.get("api_key").is_some())),
                usage: ctx.usage_for(&stage),
                endpoint: endpoint.clone(),
            });
        }
    }
    Ok(())
}

/// AWS refuses a transfer mode that does not match the URI at deploy (PutIntegration answers
/// 400): so does local, at start.
fn refuse_mismatch(
    ctx: &Ctx<'_>,
    integ: &Node,
    mode: &str,
    streaming_uri: bool,
) -> Result<(), TemplateError> {
    if (mode == "STREAM") == streaming_uri {
        return Ok(());
    }
    Err(TemplateError::Refused {
        file: ctx.file.clone(),
        line: integ.line,
        why: format!(
            "responseTransferMode {mode} with the {} URI: AWS rejects it at deploy (PutIntegration: 400 Bad Request); STREAM needs .../2021-11-15/functions/ARN/response-streaming-invocations, BUFFERED .../2015-03-31/functions/ARN/invocations",
            if streaming_uri {
                "response-streaming"
            } else {
                "buffered"
            }
        ),
    })
}

fn method(ctx: &Ctx<'_>, res: &Node, stack: &mut Stack) -> Result<(), TemplateError> {
    let Some(p) = res.get("Properties") else {
        return Ok(());
    };
    let Some(integ) = p.get("Integration") else {
        return Ok(());
    };
    let uri = integ
        .get("Uri")
        .map(|u| ctx.eval(u))
        .transpose()?
        .map(|u| u.text())
        .unwrap_or_default();
    let Some((function, streaming_uri)) = uri_function(&uri) else {
        stack.ignored.push(format!(
            "{}:{}: a method whose integration is not a function of this stack",
            ctx.file, res.line
        ));
        return Ok(());
    };
    let mode = integ
        .get("ResponseTransferMode")
        .map(|m| ctx.eval(m))
        .transpose()?
        .map_or("BUFFERED".into(), |m| m.text().to_ascii_uppercase());
    refuse_mismatch(ctx, integ, &mode, streaming_uri)?;
    let api = p
        .get("RestApiId")
        .map(|a| ctx.eval(a))
        .transpose()?
        .map(|a| a.text());
    let (stage, endpoint) = api_setting(ctx, api.as_deref())?;
    let usage = ctx.usage_for(&stage);
    stack.methods.push(MethodDef {
        http_method: p
            .get("HttpMethod")
            .map(|m| ctx.eval(m))
            .transpose()?
            .map_or("ANY".into(), |m| m.text().to_ascii_uppercase()),
        path: match p.get("ResourceId") {
            Some(r) => resource_path(ctx, r)?,
            None => "/".into(),
        },
        stage,
        function,
        mode,
        timeout_ms: integ
            .get("TimeoutInMillis")
            .map(|t| ctx.eval(t))
            .transpose()?
            .and_then(|t| t.num())
            .map(|t| t as u64),
        api_key_required: p
            .get("ApiKeyRequired")
            .map(|k| ctx.eval(k))
            .transpose()?
            .is_some_and(|k| k.truth()),
        usage,
        endpoint,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A usage plan covers the stages its ApiStages name, not every keyed method of the template.
    #[test]
    fn a_usage_plan_covers_its_own_stages() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.yaml");
        std::fs::write(
            &path,
            r"Transform: AWS::Serverless-2016-10-31
Resources:
  A:
    Type: AWS::Serverless::Api
    Properties: {StageName: a, EndpointConfiguration: REGIONAL}
  B:
    Type: AWS::Serverless::Api
    Properties: {StageName: b, EndpointConfiguration: REGIONAL}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: ./
      Events:
        OnA:
          Type: Api
          Properties: {RestApiId: !Ref A, Path: /x, Method: get, Auth: {ApiKeyRequired: true}}
        OnB:
          Type: Api
          Properties: {RestApiId: !Ref B, Path: /y, Method: get, Auth: {ApiKeyRequired: true}}
  Plan:
    Type: AWS::ApiGateway::UsagePlan
    Properties:
      ApiStages: [{ApiId: !Ref A, Stage: a}]
      Throttle: {RateLimit: 3, BurstLimit: 2}
      Quota: {Limit: 7, Period: DAY}
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stack = read(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let usage = |stage: &str| {
            stack
                .methods
                .iter()
                .find(|m| m.stage == stage)
                .map(|m| m.usage)
        };
        assert_eq!(usage("a"), Some(Some((3.0, 2, Some(7)))));
        assert_eq!(usage("b"), Some(None));
    }
}
