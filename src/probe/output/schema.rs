//! The JSON Schemas of what streamscope writes, generated from the Rust types (schemars) and
//! checked in as `schema/report.schema.json` and `schema/comparison.schema.json`; every report
//! names its schema in `$schema`. `streamscope schema report|comparison` prints them; a test fails
//! when the types change without the files.

pub use super::compare::COMPARISON_ID;
pub use super::report::REPORT_ID;

/// A schema, titled and identified.
fn with_id(mut schema: schemars::Schema, id: &str, description: &str) -> serde_json::Value {
    schema.insert("$id".into(), id.into());
    schema.insert("description".into(), description.into());
    schema.to_value()
}

pub fn report() -> serde_json::Value {
    with_id(
        schemars::schema_for!(super::report::Report),
        REPORT_ID,
        "A streamscope run: `streamscope get --json`, the app's Save report, one target of a comparison.",
    )
}

pub fn comparison() -> serde_json::Value {
    with_id(
        schemars::schema_for!(super::compare::Comparison),
        COMPARISON_ID,
        "A streamscope comparison: `streamscope compare --json`.",
    )
}

/// The schema as the checked-in file holds it (pretty JSON, one newline at the end).
pub fn text(schema: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in schemas are what the types say. On failure, regenerate them:
    /// `cargo run --release -- schema report > schema/report.schema.json` (and `comparison`).
    #[test]
    fn the_checked_in_schemas_match_the_types() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for (file, schema, which) in [
            ("report.schema.json", report(), "report"),
            ("comparison.schema.json", comparison(), "comparison"),
        ] {
            let on_disk = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            let on_disk: serde_json::Value =
                serde_json::from_str(&on_disk).unwrap_or(serde_json::Value::Null);
            assert!(
                on_disk == schema,
                "schema/{file} does not match the Rust types: a report field was added, renamed \
                 or changed without the schema. Regenerate it with \
                 `cargo run --release -- schema {which} > schema/{file}` and review the diff"
            );
        }
    }
}
