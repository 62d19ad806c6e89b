//! The JSON Schema of BuildNet's vocabulary, derived from the Rust types (schemars): the
//! records (builds, target runs, keys, locks, workers, artifacts), the events, the status and
//! the error codes. It is committed as `schema/buildnet.schema.json`, with the error codes
//! again as `tests/vectors/error_codes.json` for every face's tests; a unit test fails when
//! either differs from what the types say (`cargo run -p buildnet-core --example gen_schema`
//! writes them). The faces' types (TypeScript, the Node d.ts header, Python `TypedDict`s) are
//! generated from the schema file, and the OpenAPI document takes its bodies from here.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::daemon::{ArtifactPage, SlotView, Status};
use crate::error::ErrorCode;
use crate::events::EventEnvelope;
use crate::orchestrator::TargetGraph;
use crate::state::{
    BuildRecord, BuildStatus, KvEntry, KvPage, Lock, TargetRun, TargetStatus, WorkerRecord,
};

/// Where the schema document is kept, relative to the repository root.
pub const SCHEMA_FILE: &str = "schema/buildnet.schema.json";
/// Where the error codes are kept, relative to the repository root.
pub const ERROR_CODES_FILE: &str = "tests/vectors/error_codes.json";

/// The definitions of `types`, for values as BuildNet writes them (`"#/$defs/Name"` refs).
fn definitions(add: impl FnOnce(&mut SchemaGenerator)) -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    add(&mut generator);
    generator.take_definitions(true)
}

/// The schema document: every record, event, status and error code under `$defs`.
pub fn document() -> Value {
    let defs = definitions(|g| {
        g.subschema_for::<BuildRecord>();
        g.subschema_for::<TargetRun>();
        g.subschema_for::<BuildStatus>();
        g.subschema_for::<TargetStatus>();
        g.subschema_for::<EventEnvelope>();
        g.subschema_for::<Status>();
        g.subschema_for::<SlotView>();
        g.subschema_for::<ArtifactPage>();
        g.subschema_for::<KvEntry>();
        g.subschema_for::<KvPage>();
        g.subschema_for::<Lock>();
        g.subschema_for::<WorkerRecord>();
        g.subschema_for::<ErrorCode>();
        g.subschema_for::<TargetGraph>();
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "BuildNet",
        "description": "Records, events, status and error codes of the BuildNet engine, as its \
                        HTTP API, C ABI and bindings give them. Generated from the Rust types: \
                        do not edit.",
        "$defs": defs,
    })
}

/// The error codes, in number order: `{"codes": [{"name", "code", "number"}]}`. The C ABI
/// returns `-number`.
pub fn error_codes() -> Value {
    let codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "name": format!("{c:?}"), "code": c.as_str(), "number": c.number() }))
        .collect();
    json!({ "codes": codes })
}

/// The schema of `T` as a request body (what BuildNet accepts).
pub fn request_body<T: JsonSchema>() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    generator.root_schema_for::<T>().to_value()
}

/// The generated files and their contents, relative to the repository root.
pub fn files() -> Vec<(&'static str, String)> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON values print") + "\n";
    vec![
        (SCHEMA_FILE, pretty(&document())),
        (ERROR_CODES_FILE, pretty(&error_codes())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_and_error_codes_are_what_the_types_say() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (path, generated) in files() {
            let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            assert!(
                committed == generated,
                "{path} is stale: run `cargo run -p buildnet-core --example gen_schema`"
            );
        }
    }

    #[test]
    fn error_codes_serialize_as_their_stable_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let numbers: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    }

    #[test]
    fn every_event_type_is_in_the_schema() {
        let doc = document();
        let text = doc["$defs"].to_string();
        for kind in [
            "build_finished",
            "target_log",
            "watch_triggered",
            "state_changed",
        ] {
            assert!(text.contains(&format!("\"{kind}\"")), "{kind}");
        }
        assert_eq!(
            doc["$defs"]["BuildStatus"]["enum"],
            json!([
                "queued",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                "interrupted"
            ])
        );
    }
}
