//! A raw HTTP/1.1 server's two helpers, for upstreams that misbehave in ways no HTTP
//! library would: reading one request, and writing one chunk of a chunked body.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One request as read off the socket.
pub struct RawRequest {
    /// The request line and headers, as sent.
    pub head: String,
    /// The request line's path.
    pub path: String,
    /// The body (by `content-length`).
    pub body: String,
}

impl RawRequest {
    /// The value of header `name` (lower-case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// The request line's path and the body, or `None` if the connection ended first.
pub async fn read_request(socket: &mut TcpStream) -> Option<RawRequest> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    let path = head.split_whitespace().nth(1)?.to_owned();
    Some(RawRequest { head, path, body: String::from_utf8_lossy(&data[head_end..]).to_string() })
}

/// One chunk of a chunked body.
pub fn chunk(text: &str) -> String {
    format!("{:x}\r\n{text}\r\n", text.len())
}
