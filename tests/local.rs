//! `streamscope local TEMPLATE`: the repository's three templates (Rust, Node, Python + Web
//! Adapter) run as deployed and downloaded through; a SAM template's Globals, parameters and Api
//! events; and what is refused at start, in one line: a method AWS rejects at deploy, a runtime
//! that is not supported, a value only another stack knows.
//!
//! Needs what `scripts/install-test-deps.sh` installs (the Node runtime client, the venv, the Web
//! Adapter), as tests/functions.rs does.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The built-in profile with Lambda's and the gateway's rates scaled up (20 MiB/s), so that
/// 30 MiB take a second or two, not twelve.
fn fast_profile(dir: &Path) -> PathBuf {
    let text =
        streamscope::emulator::profile::DEFAULT_TOML.replace("value = 2097152", "value = 20971520");
    let p = dir.join("fast.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `streamscope local TEMPLATE --port 0 ARGS...`, its base URL read from the first stdout line.
fn local(template: &Path, args: &[&str], log: &Path) -> Proc {
    let child = std::process::Command::new(BIN)
        .arg("local")
        .arg(template)
        .args(["--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Proc::listening(child)
}

/// The repository's three templates, each run by `local` and 30 MiB downloaded through it:
/// complete, verified, streamed, with the invocation's REPORT line in the report.
#[test]
fn the_three_backends_templates_run_locally_as_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let profile = fast_profile(dir.path());
    let up = serve(&[]);
    let upstream = format!("UpstreamUrl={}/download?size=30MiB&seed=31", up.base);
    let cases = [
        (
            "src/backend/template.yaml",
            "/prod/download?size=30MiB&seed=32",
        ),
        ("src/backend/node/template.yaml", "/prod/any/path"),
        ("src/backend/python/template.yaml", "/prod/any/path"),
    ];
    for (template, path) in cases {
        let log = dir.path().join("local.log");
        let s = local(
            &repo(template),
            &[
                "--profile",
                profile.to_str().unwrap(),
                "--parameter-overrides",
                &upstream,
                "RequireApiKey=false",
            ],
            &log,
        );
        let out = dir.path().join("x.bin");
        let json = dir.path().join("r.json");
        let (o, r) = get_report(&format!("{}{path}", s.base), &out, &json, &[]);
        let started = std::fs::read_to_string(&log).unwrap();
        assert!(o.status.success(), "{template}: {}\n{started}", stderr(&o));
        assert_eq!(r["outcome"], "complete", "{template}");
        assert_eq!(r["bytes"], 30 * MIB, "{template}");
        assert_eq!(r["digest_match"], true, "{template}: verified");
        assert_ne!(r["delivery"], "burst", "{template}: streamed");
        assert!(
            r["function_log"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().starts_with("REPORT RequestId: ")),
            "{template}: {}",
            r["function_log"]
        );
        // The start-up table names the method, its mode and its timeout; the project's own
        // templates draw no lint warning.
        assert!(started.contains("/prod/{proxy+}"), "{started}");
        assert!(!started.contains("web-adapter-mode-mismatch"), "{started}");
        assert!(
            started.contains("STREAM    900000 ms, regional"),
            "{started}"
        );
    }
}

/// A SAM template as people write them: an implicit API (stage Prod), Globals' environment and
/// timeout, a parameter overridden on the command line, an Api event per method; a shell
/// function that answers with what it sees.
#[test]
fn globals_parameters_and_api_events_are_read_as_sam_does() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("fn");
    std::fs::create_dir(&code).unwrap();
    shell_runtime(
        &code,
        r#"printf '{"statusCode":200,"body":"greeting=%s color=%s"}' "$GREETING" "$COLOR""#,
    );
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Color:
    Type: String
    Default: blue
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        GREETING: hello
  Api:
    EndpointConfiguration: REGIONAL
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: fn/
      Environment:
        Variables:
          COLOR: !Ref Color
      Events:
        Hello:
          Type: Api
          Properties:
            Path: /hello
            Method: get
        Queue:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:000000000000:q
  Items:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      EndpointConfiguration: REGIONAL
      DefinitionBody:
        openapi: "3.0.1"
        paths:
          /items/{proxy+}:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Greeter.Arn}/invocations
                timeoutInMillis: 10000
"#,
    )
    .unwrap();
    let log = dir.path().join("local.log");
    let s = local(&template, &["--parameter-overrides", "Color=green"], &log);
    let (_, headers) = curl_fetch(&format!("{}/Prod/hello", s.base), dir.path());
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    let got = std::fs::read_to_string(dir.path().join("curl.body")).unwrap();
    assert_eq!(got, "greeting=hello color=green");
    // The OpenAPI-bodied API, its own stage, the same function.
    let (_, headers) = curl_fetch(&format!("{}/v1/items/a/b", s.base), dir.path());
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("curl.body")).unwrap(),
        "greeting=hello color=green"
    );
    // Another path, another method, another stage: API Gateway's 403.
    for (method, path) in [
        ("GET", "/Prod/other"),
        ("POST", "/Prod/hello"),
        ("GET", "/prod/hello"),
    ] {
        let o = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
            .arg(format!("{}{path}", s.base))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "403", "{method} {path}");
    }
    drop(s);
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(started.contains("GET     /Prod/hello"), "{started}");
    assert!(started.contains("GET     /v1/items/{proxy+}"), "{started}");
    assert!(
        started.contains("BUFFERED  10000 ms, regional"),
        "{started}"
    );
    assert!(
        started.contains("29000 ms (unset)"),
        "SAM sets no TimeoutInMillis: {started}"
    );
    assert!(
        started.contains("not emulated:") && started.contains("Queue (SQS event)"),
        "what is not read is said: {started}"
    );
}

/// Refused at start, in one line, exit 2: a STREAM method with the buffered URI (AWS's deploy
/// refuses it), a runtime not supported here, an !ImportValue.
#[test]
fn what_cannot_run_is_refused_at_start_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let unsupported = dir.path().join("java.yaml");
    std::fs::write(
        &unsupported,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  J:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: java21\n      Handler: x.Y::handle\n      CodeUri: ./\n      Events:\n        A:\n          Type: Api\n          Properties: {Path: /a, Method: get}\n",
    )
    .unwrap();
    let import = dir.path().join("import.yaml");
    std::fs::write(
        &import,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: provided.al2023\n      Handler: bootstrap\n      CodeUri: ./\n      Environment:\n        Variables:\n          TABLE: !ImportValue shared-table\n      Events:\n        A:\n          Type: Api\n          Properties: {Path: /a, Method: get}\n",
    )
    .unwrap();
    let cases = [
        (
            repo("tests/fixtures/lint/uri-mode-mismatch.yaml"),
            "AWS rejects it at deploy (PutIntegration: 400",
        ),
        (unsupported, "the runtime \"java21\" is not supported here"),
        (import, "Fn::ImportValue cannot be resolved locally"),
        // CloudFormation's "Parameters: [UpstreamUrl] must have values".
        (
            repo("src/backend/python/template.yaml"),
            "template.yaml:10: the parameter UpstreamUrl has no Default: give it a value (--parameter-overrides UpstreamUrl=VALUE)",
        ),
    ];
    let rust = repo("src/backend/template.yaml");
    let cases = cases.into_iter().map(|(t, says)| (t, says, None)).chain([
        (
            rust.clone(),
            "no parameter Nope in this template (CloudFormation: Parameters: [Nope] do not exist",
            Some("Nope=1"),
        ),
        (
            rust.clone(),
            "the parameter FunctionTimeoutSeconds is 0, less than its minimum 1 (CloudFormation refuses the stack)",
            Some("FunctionTimeoutSeconds=0"),
        ),
        (
            rust.clone(),
            "the parameter RequireApiKey is \"maybe\", not one of its AllowedValues (true, false)",
            Some("RequireApiKey=maybe"),
        ),
        (
            rust,
            "the parameter FunctionMemoryMB is \"lots\", not a number",
            Some("FunctionMemoryMB=lots"),
        ),
    ]);
    for (template, says, overrides) in cases {
        let o = std::process::Command::new(BIN)
            .arg("local")
            .arg(&template)
            .args(["--port", "0"])
            .args(
                overrides
                    .map(|o| ["--parameter-overrides", o])
                    .into_iter()
                    .flatten(),
            )
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", template.display());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// A template's mistake shows its effect when run, as on AWS: the Rust template deployed with a
/// 3 s function timeout cuts a longer download at 3 s, and the report names the finding.
#[test]
fn a_three_second_function_timeout_cuts_the_stream_with_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("local.log");
    let s = local(
        &repo("src/backend/template.yaml"),
        &[
            "--parameter-overrides",
            "FunctionTimeoutSeconds=3 EnableFaultKnobs=true RequireApiKey=false",
        ],
        &log,
    );
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    // Warm first, so that the timed run is the function's 3 s and not its cold start.
    let warm = get(&[
        &format!("{}/prod/healthz", s.base),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(warm.status.success(), "{}", stderr(&warm));
    std::fs::remove_file(&out).unwrap();
    // 8 MiB at 1 MiB/s: the function is still sending when its 3 s are up.
    let (o, r) = get_report(
        &format!("{}/prod/download?size=8MiB&rate=1MiB&length=0", s.base),
        &out,
        &json,
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(r["outcome"], "truncated", "{r}");
    let ids = finding_ids(&r);
    assert!(
        ids.iter().any(|i| i == "function-default-timeout"),
        "{ids:?}"
    );
    assert!(
        r["function_log"]
            .to_string()
            .contains("Task timed out after 3.00 seconds"),
        "{}",
        r["function_log"]
    );
}

/// A STREAM method that leaves TimeoutInMillis unset (SAM's `ResponseTransferMode` alone sets
/// none) is cut at the default integration timeout: 29 s on AWS, 4 s in a scaled profile. `get
/// --limits` with that profile names it; judged by AWS's 29 s, a 4 s cut is not that finding.
#[test]
fn timeout_in_millis_unset_cuts_the_stream_at_the_profiles_default() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("scaled.toml");
    std::fs::write(
        &profile,
        streamscope::emulator::profile::DEFAULT_TOML.replace(
            "[integration_timeout_default_ms]\nvalue = 29000",
            "[integration_timeout_default_ms]\nvalue = 4000",
        ),
    )
    .unwrap();
    // CodeUri without a bootstrap: the one cargo built beside streamscope runs.
    std::fs::create_dir(dir.path().join("fn")).unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Api:\n    EndpointConfiguration: REGIONAL\nResources:\n  Download:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: provided.al2023\n      Handler: bootstrap\n      CodeUri: fn/\n      Timeout: 60\n      Environment:\n        Variables:\n          STREAMSCOPE_FAULT_KNOBS: \"true\"\n      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /{proxy+}\n            Method: get\n            ResponseTransferMode: RESPONSE_STREAM\n",
    )
    .unwrap();
    let log = dir.path().join("local.log");
    let s = local(&template, &["--profile", profile.to_str().unwrap()], &log);
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(started.contains("STREAM    4000 ms"), "{started}");
    let out = dir.path().join("x.bin");
    // Warm first, so that the timed run is the integration's 4 s and not the cold start.
    let warm = get(&[
        &format!("{}/Prod/healthz", s.base),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(warm.status.success(), "{}", stderr(&warm));
    let url = format!("{}/Prod/download?size=16MiB&rate=1MiB&length=0", s.base);
    for (limits, expect) in [(Some(&profile), true), (None, false)] {
        std::fs::remove_file(&out).ok();
        let json = dir.path().join("r.json");
        let mut args = vec![
            url.as_str(),
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ];
        if let Some(p) = limits {
            args.extend(["--limits", p.to_str().unwrap()]);
        }
        let o = get(&args);
        let r = read_json(&json);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(r["outcome"], "truncated", "{r}");
        assert!(!out.exists(), "a cut download is not left under its name");
        let ids = finding_ids(&r);
        assert_eq!(
            ids.iter().any(|i| i == "stream-cut-at-default-timeout"),
            expect,
            "--limits {limits:?}: {ids:?}"
        );
    }
    // A profile that cannot be read: one line, exit 2.
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--limits",
        "/nonexistent.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read the profile"),
        "{}",
        stderr(&o)
    );
}

/// A `python*` function without the Web Adapter runs under the real Python runtime client
/// (awslambdaric from PyPI, in the tools venv): behind BUFFERED its proxy JSON is the answer;
/// behind STREAM the same plain JSON is not the streaming format, and API Gateway answers 500
/// (AWS's table of transfer modes).
#[test]
fn a_python_handler_runs_under_the_real_python_runtime_client() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("fn");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("app.py"),
        "import os, sys\n\ndef handler(event, context):\n    print('handling', event['path'], file=sys.stderr)\n    trace = event['headers'].get('x-amzn-trace-id') or event['headers'].get('X-Amzn-Trace-Id')\n    return {'statusCode': 200, 'body': 'python saw ' + event['path'] + ' as ' + context.aws_request_id + ' in ' + trace + ' runtime ' + os.environ.get('_X_AMZN_TRACE_ID', '-')}\n",
    )
    .unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Api:\n    EndpointConfiguration: REGIONAL\nResources:\n  Py:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: fn/\n      Events:\n        Buffered:\n          Type: Api\n          Properties: {Path: /buffered, Method: get}\n        Stream:\n          Type: Api\n          Properties: {Path: /stream, Method: get, ResponseTransferMode: RESPONSE_STREAM, TimeoutInMillis: 60000}\n",
    )
    .unwrap();
    let log = dir.path().join("local.log");
    let s = local(&template, &[], &log);
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(&format!("{}/Prod/buffered", s.base), &out, &json, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let body = std::fs::read_to_string(&out).unwrap();
    let (id, traces) = body
        .strip_prefix("python saw /buffered as ")
        .and_then(|rest| rest.split_once(" in "))
        .unwrap_or_else(|| panic!("{body}"));
    let (trace, runtime_trace) = traces.split_once(" runtime ").unwrap();
    assert_eq!(trace, runtime_trace, "the event's trace is the runtime's");
    // One trace id follows the request: the event's is the response's, and derives from the id.
    let header = |name: &str| report_header(&r, name);
    // API Gateway's request id (the response's) is not the invocation's (the REPORT's), as on
    // AWS; the trace root derives from the gateway's.
    let gateway_id = header("x-amzn-requestid");
    assert!(!gateway_id.is_empty() && gateway_id != id, "{gateway_id}");
    let root = header("x-amzn-trace-id");
    assert!(
        root.starts_with("Root=1-") && trace.starts_with(&format!("{root};")),
        "response {root:?}, event {trace:?}"
    );
    assert!(
        root.ends_with(&gateway_id.replace('-', "")[..24]),
        "{root} {gateway_id}"
    );
    let log_lines = r["function_log"].to_string();
    assert!(
        log_lines.contains(&format!("REPORT RequestId: {id}")) && log_lines.contains("handling"),
        "{log_lines}"
    );
    std::fs::remove_file(&out).unwrap();
    let (o, r) = get_report(&format!("{}/Prod/stream", s.base), &out, &json, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(r["response"]["status"], 500, "{r}");
}

/// The repository's usage plan (burst 5, rate 2 per second) as `local` runs it: 8 parallel
/// ranges are more than it lets through at once, the 429s are waited out, the file is whole, and
/// the finding says the plan is too tight. A plan covers the stage: its quota counts the
/// requests of every method (here `/` and `/{proxy+}`) together.
#[test]
fn the_usage_plan_is_the_stages_and_too_tight_for_eight_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let profile = fast_profile(dir.path());
    let log = dir.path().join("local.log");
    let s = local(
        &repo("src/backend/template.yaml"),
        &[
            "--profile",
            profile.to_str().unwrap(),
            "--api-key",
            "k-ranges",
        ],
        &log,
    );
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(
        &format!("{}/prod/download?size=48MiB&seed=5", s.base),
        &out,
        &json,
        &["-H", "x-api-key: k-ranges", "--segments", "8"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete", "{r}");
    assert_eq!(r["digest_match"], true);
    assert!(r["throttled_responses"].as_u64().unwrap() > 0, "{r}");
    let ids = finding_ids(&r);
    assert!(ids.iter().any(|i| i == "usage-plan-too-tight"), "{ids:?}");
    drop(s);

    let s = local(
        &repo("src/backend/template.yaml"),
        &[
            "--api-key",
            "k-quota",
            "--parameter-overrides",
            "UsageQuotaPerDay=3",
        ],
        &log,
    );
    let statuses: Vec<String> = ["/prod/", "/prod/healthz", "/prod/", "/prod/healthz"]
        .iter()
        .map(|p| {
            let o = std::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
                .args(["-H", "x-api-key: k-quota"])
                .arg(format!("{}{p}", s.base))
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    assert_eq!(statuses, ["200", "200", "200", "429"]);
}

/// The Python template with the Web Adapter left in its buffered default behind the STREAM
/// method: API Gateway answers 500 (AWS's table: STREAM with output not in the streaming
/// format), as `local` runs it with the real adapter.
#[test]
fn the_web_adapters_buffered_mode_behind_stream_is_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("src/backend/python/template.yaml")).unwrap();
    let python_dir = repo("src/backend/python");
    let text = text
        .replace(
            "CodeUri: ./",
            &format!("CodeUri: {}/", python_dir.display()),
        )
        .replace(
            "Location: ../stream-api.yaml",
            &format!(
                "Location: {}",
                repo("src/backend/stream-api.yaml").display()
            ),
        )
        .replace(
            "AWS_LWA_INVOKE_MODE: response_stream",
            "AWS_LWA_INVOKE_MODE: buffered",
        );
    assert!(text.contains("AWS_LWA_INVOKE_MODE: buffered"));
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, text).unwrap();
    let up = serve(&[]);
    let log = dir.path().join("local.log");
    let s = local(
        &template,
        &[
            "--parameter-overrides",
            &format!("UpstreamUrl={}/download?size=1MiB", up.base),
            "RequireApiKey=false",
        ],
        &log,
    );
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(&format!("{}/prod/any", s.base), &out, &json, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(r["response"]["status"], 500, "{r}");
    assert!(!out.exists());
    // Said at start, though the method is in the nested template and the function in the parent.
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(
        started.contains(
            "warning web-adapter-mode-mismatch: RelayFunction's Web Adapter runs in buffered mode"
        ),
        "{started}"
    );
}
