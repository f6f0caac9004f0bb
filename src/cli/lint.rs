//! `streamscope lint`: template mistakes before they reach a run.

use crate::lint::{self, LintFinding, Severity};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// CloudFormation/SAM templates (YAML or JSON), OpenAPI files, Terraform .tf files, or
    /// directories of .tf files (one module each)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How to print the findings
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Exit 0 when no error-level finding, 1 with one, 2 when a path cannot be linted.
pub fn lint(args: LintArgs) -> ExitCode {
    let findings = match lint::lint_paths(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    match args.format {
        Format::Json => {
            let out = serde_json::json!({
                "findings": findings,
                "errors": errors,
                "warnings": warnings,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Text => {
            for f in &findings {
                print!("{}", text(f));
            }
            println!(
                "{} path(s): {errors} error(s), {warnings} warning(s)",
                args.paths.len()
            );
        }
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn text(f: &LintFinding) -> String {
    format!(
        "{}:{}: {} {}: {}\n    fix: {}\n    see: {}\n",
        f.file,
        f.line,
        f.severity.label(),
        f.rule,
        f.message,
        f.fix,
        f.doc_url
    )
}
