//! A minimal HTTP client for talking to a running daemon on this machine (loopback), so the
//! executable needs no HTTP client library. Requests are HTTP/1.0: the answer's body then runs
//! to the end of the connection, with no chunked framing to undo, which also suits the event
//! streams read line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use buildnet_core::{Error, ErrorCode, Result};

const TIMEOUT: Duration = Duration::from_secs(10);

/// An answer whose head has been read; the body is left in `body`.
pub struct Answer {
    pub status: u16,
    pub body: BufReader<TcpStream>,
}

impl Answer {
    /// The whole body as JSON; an error for a non-2xx status (with the daemon's message).
    pub fn json(mut self) -> Result<serde_json::Value> {
        let mut text = String::new();
        self.body
            .read_to_string(&mut text)
            .map_err(|e| Error::io("reading the daemon's answer", e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::internal(format!("the daemon sent invalid JSON: {e}")))?;
        if !(200..300).contains(&self.status) {
            return Err(status_error(self.status, &json));
        }
        Ok(json)
    }

    /// The whole body as text.
    pub fn text(mut self) -> Result<String> {
        let mut data = Vec::new();
        self.body
            .read_to_end(&mut data)
            .map_err(|e| Error::io("reading the daemon's answer", e))?;
        Ok(String::from_utf8_lossy(&data).into_owned())
    }
}

/// The error a non-2xx answer stands for.
pub fn status_error(status: u16, json: &serde_json::Value) -> Error {
    let message = json["error"]
        .as_str()
        .unwrap_or("request failed")
        .to_string();
    let code = match status {
        401 => ErrorCode::Unauthorized,
        404 => ErrorCode::NotFound,
        422 => ErrorCode::Cycle,
        400 => ErrorCode::InvalidArgument,
        _ => ErrorCode::Internal,
    };
    Error::new(code, format!("daemon answered {status}: {message}"))
}

/// Sends one request to the daemon at `address`; `timeout` bounds each read (`None`: wait).
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Option<Duration>,
) -> Result<Answer> {
    let addr: SocketAddr = address
        .parse()
        .map_err(|_| Error::internal(format!("daemon address {address:?} is not host:port")))?;
    // Only a failed connection is an I/O error: the daemon surely has not seen the request.
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| Error::io(format!("connecting to the daemon at {address}"), e))?;
    let io =
        |e: std::io::Error| Error::internal(format!("talking to the daemon at {address}: {e}"));
    stream.set_read_timeout(timeout).map_err(io)?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{auth}{content}\r\n{body}"
    )
    .map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::internal("the daemon sent no HTTP status"))?;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    Ok(Answer {
        status,
        body: reader,
    })
}

/// `GET path` from the daemon at `address`; the JSON body of a 2xx answer.
pub fn get_json(address: &str, path: &str, token: Option<&str>) -> Result<serde_json::Value> {
    request(address, "GET", path, token, None, Some(TIMEOUT))?.json()
}
