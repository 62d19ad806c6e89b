//! A minimal HTTP/1.1 client for talking to a running daemon on this machine (loopback), so the
//! executable needs no HTTP client library.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use buildnet_core::{Error, ErrorCode, Result};

const TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` from the daemon at `address`; the JSON body of a 2xx answer.
pub fn get_json(address: &str, path: &str, token: Option<&str>) -> Result<serde_json::Value> {
    let addr: SocketAddr = address
        .parse()
        .map_err(|_| Error::internal(format!("daemon address {address:?} is not host:port")))?;
    let io = |e| Error::io(format!("talking to the daemon at {address}"), e);
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Accept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::internal("the daemon sent a malformed HTTP response"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::internal("the daemon sent no HTTP status"))?;
    let json: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| Error::internal(format!("the daemon sent invalid JSON: {e}")))?;
    if !(200..300).contains(&status) {
        let message = json["error"]
            .as_str()
            .unwrap_or("request failed")
            .to_string();
        let code = if status == 401 {
            ErrorCode::Unauthorized
        } else {
            ErrorCode::Internal
        };
        return Err(Error::new(
            code,
            format!("daemon answered {status}: {message}"),
        ));
    }
    Ok(json)
}
