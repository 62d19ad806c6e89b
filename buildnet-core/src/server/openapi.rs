//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the route table.

use axum::Json;
use serde_json::{json, Value};

use super::routes::{RouteSpec, ROUTES};
use crate::daemon::VERSION;

pub(crate) fn build_body_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "targets": {"type": "array", "items": {"type": "string"},
                        "description": "targets to build (empty or absent: all)"},
            "force": {"type": "boolean", "description": "ignore the cache"},
            "concurrency": {"type": "integer", "minimum": 1},
            "fail_fast": {"type": "boolean"},
            "replay_logs": {"type": "boolean",
                            "description": "publish cached runs' logs as target_log events (default true)"},
        }
    })
}

pub(crate) fn put_state_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["value"],
        "properties": {
            "value": {"type": "string"},
            "ttl_ms": {"type": "integer", "minimum": 1},
        }
    })
}

pub(crate) fn acquire_lock_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["ttl_ms"],
        "properties": {"ttl_ms": {"type": "integer", "minimum": 1}}
    })
}

pub(crate) fn release_lock_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["token"],
        "properties": {"token": {"type": "string"}}
    })
}


/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| name.trim_start_matches('*'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(route.query.iter().map(|(name, ty, desc)| {
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}})
        }));
        let mut responses = serde_json::Map::new();
        for (code, desc) in route.responses {
            let content = if *code >= 400 {
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
            } else if *code == 101 {
                json!({})
            } else {
                json!({ route.produces: {} })
            };
            responses.insert(
                code.to_string(),
                json!({"description": desc, "content": content}),
            );
        }
        let mut op = json!({
            "summary": route.summary,
            "operationId": operation_id(route),
            "parameters": params,
            "responses": responses,
        });
        if let Some(schema) = route.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema()}},
            });
        }
        if !route.auth {
            op["security"] = json!([]);
        }
        // `{*key}` (a key may hold `/`) is axum's; OpenAPI writes `{key}`.
        let entry = paths
            .entry(route.path.replace("{*", "{"))
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "BuildNet daemon API",
            "version": VERSION,
            "description": "Builds, their logs and events, the artifact store, and the \
                            key-value store with locks of one BuildNet workspace.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["success", "error", "code"],
                    "properties": {
                        "success": {"const": false},
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                    }
                }
            }
        }
    })
}

pub(crate) fn operation_id(route: &RouteSpec) -> String {
    let mut id = route.method.to_ascii_lowercase();
    for part in route.path.split(['/', '.', '{', '}', '*']) {
        if part.is_empty() || part == "api" || part == "v1" {
            continue;
        }
        id.push('_');
        id.push_str(&part.replace('-', "_"));
    }
    if route.path == "/" {
        id.push_str("_dashboard");
    }
    id
}

/// What `axum::serve` runs: the router behind the guard, the guard outermost (not a router

pub(crate) async fn openapi() -> Json<Value> {
    Json(openapi_document())
}
