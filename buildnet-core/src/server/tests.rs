//! Unit tests of the server's pure parts.

use std::collections::HashSet;

use super::guard::host_allowed;
use super::openapi::openapi_document;
use super::routes::ROUTES;
use super::ws::WsFilter;
use crate::events::Event;

#[test]
fn host_names_lose_their_port() {
    let allowed: HashSet<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(host_allowed(&allowed, "LocalHost:7890"));
    assert!(host_allowed(&allowed, "127.0.0.1"));
    assert!(host_allowed(&allowed, "[::1]:80"));
    assert!(!host_allowed(&allowed, "evil.example:7890"));
    assert!(!host_allowed(&allowed, "localhost.evil.example"));
    assert!(!host_allowed(&allowed, ""));
}

#[test]
fn every_route_is_documented_once_with_an_operation_id() {
    let doc = openapi_document();
    let mut ids = HashSet::new();
    for route in ROUTES {
        let op = &doc["paths"][route.path.replace("{*", "{")][route.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {}", route.method, route.path);
        assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()));
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, ROUTES.len());
}

#[test]
fn ws_filter_by_type_and_build() {
    let f: WsFilter = serde_json::from_str(r#"{"types":["target_log"],"build":"b1"}"#).unwrap();
    let log = |b: &str| Event::TargetLog {
        build_id: b.into(),
        target: "t".into(),
        stream: crate::process::Stream::Stdout,
        line: "x".into(),
        line_no: 1,
    };
    assert!(f.accepts(&log("b1")));
    assert!(!f.accepts(&log("b2")));
    assert!(!f.accepts(&Event::DaemonStopped));
    let all = WsFilter::default();
    assert!(all.accepts(&Event::DaemonStopped));
}

#[test]
fn every_dashboard_file_is_served() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".js") || n.ends_with(".css"))
        .collect();
    on_disk.sort();
    let mut served: Vec<String> = super::assets::ASSETS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    served.sort();
    assert_eq!(served, on_disk);
}

#[test]
fn openapi_bodies_come_from_the_types_and_every_reference_resolves() {
    let doc = openapi_document();
    let schemas = &doc["components"]["schemas"];
    let text = doc.to_string();
    let mut refs = 0;
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(schemas[name].is_object(), "dangling reference to {name}");
        refs += 1;
    }
    assert!(refs > 20, "{refs}");
    assert!(!text.contains("#/$defs/"));
    let build = &schemas["BuildBody"];
    assert_eq!(build["additionalProperties"], false);
    assert_eq!(build["properties"]["concurrency"]["minimum"], 1);
    assert_eq!(build["properties"]["targets"]["type"], "array");
    assert_eq!(
        schemas["PutState"]["required"],
        serde_json::json!(["value"])
    );
    let one = &doc["paths"]["/api/v1/builds/{id}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        one["properties"]["build"]["$ref"],
        "#/components/schemas/BuildRecord"
    );
    assert_eq!(
        schemas["BuildRecord"]["properties"]["status"]["$ref"],
        "#/components/schemas/BuildStatus"
    );
}
