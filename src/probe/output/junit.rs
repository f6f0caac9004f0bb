//! `compare --junit FILE`: the comparison as JUnit XML, the test report format CI systems show
//! (GitHub Actions reporters, GitLab, Jenkins). One test case per target (failed when the
//! download did not complete: the outcome as message, the summary and findings as text) and one
//! per threshold (failed when missed: the value seen as message). Written with quick-xml.

use super::compare::Compared;
use crate::probe::analysis::thresholds;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// One test case, before it is written.
struct Case {
    classname: String,
    name: String,
    time_s: f64,
    /// (message, type, text) when it failed.
    failure: Option<(String, String, String)>,
    out: String,
}

fn cases(items: &[Compared<'_>]) -> Vec<Case> {
    let mut out = Vec::new();
    for c in items {
        let summary = super::printer::summary(c.result, c.figures, c.findings).text();
        out.push(Case {
            classname: "streamscope.compare".into(),
            name: c.name.to_string(),
            time_s: c.result.duration_ns as f64 / 1e9,
            failure: (!c.result.outcome.is_complete()).then(|| {
                (
                    c.result.outcome.describe(),
                    c.result.outcome.kind().as_str().to_string(),
                    summary.clone(),
                )
            }),
            out: summary,
        });
        for t in thresholds::check(c.result, c.figures, c.findings) {
            let seen = format!(
                "seen: {}",
                t.value.as_deref().unwrap_or("not measured in this run")
            );
            out.push(Case {
                classname: format!("streamscope.compare.{}", c.name),
                name: format!("{}: {}", c.name, t.expression),
                time_s: 0.0,
                failure: (!t.passed).then(|| {
                    (
                        format!("threshold missed: {} ({seen})", t.expression),
                        "threshold".to_string(),
                        seen.clone(),
                    )
                }),
                out: seen,
            });
        }
    }
    out
}

/// The JUnit XML document for `items`, under the suite name `suite`.
pub fn junit(suite: &str, items: &[Compared<'_>]) -> std::io::Result<Vec<u8>> {
    let cases = cases(items);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let time: f64 = cases.iter().map(|c| c.time_s).sum();
    let (tests, failures, time) = (
        cases.len().to_string(),
        failures.to_string(),
        format!("{time:.3}"),
    );
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let counts = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
        ("time", time.as_str()),
    ];
    w.create_element("testsuites")
        .with_attribute(("name", "streamscope compare"))
        .with_attributes(counts)
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attribute(("name", suite))
                .with_attributes(counts)
                .with_attribute(("skipped", "0"))
                .write_inner_content(|w| {
                    for c in &cases {
                        write_case(w, c)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

fn write_case(w: &mut Writer<Vec<u8>>, c: &Case) -> std::io::Result<()> {
    let time = format!("{:.3}", c.time_s);
    w.create_element("testcase")
        .with_attribute(("classname", c.classname.as_str()))
        .with_attribute(("name", c.name.as_str()))
        .with_attribute(("time", time.as_str()))
        .write_inner_content(|w| {
            if let Some((message, kind, text)) = &c.failure {
                w.create_element("failure")
                    .with_attribute(("message", message.as_str()))
                    .with_attribute(("type", kind.as_str()))
                    .write_text_content(BytesText::new(text))?;
            }
            w.create_element("system-out")
                .write_text_content(BytesText::new(&c.out))?;
            Ok(())
        })?;
    Ok(())
}
