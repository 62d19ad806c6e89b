//! The baseline of the HTTP benchmark (`bench/bench-http.sh`): a bare axum server answering
//! `GET /health` with the same JSON body as `buildnet serve`, no middleware.
//!
//! `cargo run --release -p buildnet-core --example bare_axum -- PORT`

use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7891);
    let app = axum::Router::new().route(
        "/health",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/json")],
                concat!(
                    "{\"status\":\"ok\",\"version\":\"",
                    env!("CARGO_PKG_VERSION"),
                    "\"}"
                ),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serve");
}
