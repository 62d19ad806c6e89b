//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the route table.

use serde_json::{json, Value};

use super::handlers::builds::BuildBody;
use super::handlers::locks::{AcquireLock, ReleaseLock};
use super::handlers::state::PutState;
use super::routes::{RouteSpec, ROUTES};
use crate::daemon::VERSION;

/// What a success answer holds besides `"success": true`.
pub enum Returns {
    /// Not a JSON envelope (text, HTML, a stream), or nothing to document.
    Other,
    /// The fields of this schema component, at the top level.
    Merged(&'static str),
    /// These fields.
    Fields(&'static [(&'static str, Field)]),
}

/// One field of a success answer.
pub enum Field {
    Bool,
    Str,
    /// A schema component.
    One(&'static str),
    /// An array of a schema component.
    List(&'static str),
    /// An array of objects with these properties of a component (a view of it).
    ListOf(&'static str, &'static [&'static str]),
}

fn component(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn field_schema(field: &Field, components: &Value) -> Value {
    match field {
        Field::Bool => json!({"type": "boolean"}),
        Field::Str => json!({"type": "string"}),
        Field::One(name) => component(name),
        Field::List(name) => json!({"type": "array", "items": component(name)}),
        Field::ListOf(name, props) => {
            let all = &components[name]["properties"];
            let properties: serde_json::Map<String, Value> = props
                .iter()
                .map(|p| (p.to_string(), all[p].clone()))
                .collect();
            json!({"type": "array", "items": {
                "type": "object", "required": props, "properties": properties,
            }})
        }
    }
}

/// The schema of a success answer.
fn success_schema(returns: &Returns, components: &Value) -> Option<Value> {
    let success = json!({"success": {"const": true}});
    match returns {
        Returns::Other => None,
        Returns::Merged(name) => Some(json!({
            "allOf": [component(name), {"type": "object", "required": ["success"], "properties": success}]
        })),
        Returns::Fields(fields) => {
            let mut properties = success.as_object().cloned().unwrap_or_default();
            for (name, field) in *fields {
                properties.insert(name.to_string(), field_schema(field, components));
            }
            let mut required = vec!["success".to_string()];
            required.extend(fields.iter().map(|(n, _)| n.to_string()));
            Some(json!({"type": "object", "required": required, "properties": properties}))
        }
    }
}

/// The schemas of the records (from [`crate::schema`]) and of the request bodies, as
/// `components/schemas` (references rewritten to point there).
fn components() -> Value {
    let mut schemas = crate::schema::document()["$defs"].clone();
    let bodies = [
        ("BuildBody", crate::schema::request_body::<BuildBody>()),
        ("PutState", crate::schema::request_body::<PutState>()),
        ("AcquireLock", crate::schema::request_body::<AcquireLock>()),
        ("ReleaseLock", crate::schema::request_body::<ReleaseLock>()),
    ];
    for (name, mut body) in bodies {
        if let Some(obj) = body.as_object_mut() {
            obj.remove("$schema");
            obj.remove("title");
            // A body's own nested types (BuildBody's `remote_cache`) become components too.
            if let Some(Value::Object(defs)) = obj.remove("$defs") {
                for (def, schema) in defs {
                    schemas[def] = schema;
                }
            }
        }
        schemas[name] = body;
    }
    let text = schemas
        .to_string()
        .replace("#/$defs/", "#/components/schemas/");
    let mut schemas: Value = serde_json::from_str(&text).expect("the schemas are JSON");
    schemas["Error"] = json!({
        "type": "object",
        "required": ["success", "error", "code"],
        "properties": {
            "success": {"const": false},
            "error": {"type": "string"},
            "code": {"$ref": "#/components/schemas/ErrorCode"},
        }
    });
    schemas
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi_document() -> Value {
    let schemas = components();
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
                match success_schema(&route.returns, &schemas) {
                    Some(schema) => json!({ route.produces: {"schema": schema} }),
                    None => json!({ route.produces: {} }),
                }
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
        if let Some(body) = route.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": component(body)}},
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
            "schemas": schemas,
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

/// The document is the same for the life of the process: built on the first request (it
/// derives every schema), served as the same bytes after.
pub(crate) async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| openapi_document().to_string());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body.as_str(),
    )
        .into_response()
}
