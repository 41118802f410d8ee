//! The host's own edges, whatever a client sends: connections that say nothing or stop
//! reading, the connection cap, the host-wide body budget, bodies whose parsing would
//! amplify, and settings too large to send.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

const TIMEOUT: Duration = Duration::from_millis(400);
/// How much later than its timeout a connection may be closed on a loaded test machine.
const SLACK: Duration = Duration::from_secs(2);

async fn connect(host: &TestHost) -> TcpStream {
    TcpStream::connect(host.url.trim_start_matches("http://")).await.unwrap()
}

/// Read until the host closes `tcp`; what it sent, and how long that took.
async fn read_until_closed(tcp: &mut TcpStream) -> (Vec<u8>, Duration) {
    let mut reply = Vec::new();
    let patience = TIMEOUT + Duration::from_secs(10);
    let (read, took) = timed(tokio::time::timeout(patience, tcp.read_to_end(&mut reply))).await;
    read.expect("the host kept the connection open").unwrap();
    (reply, took)
}

fn assert_closed_at_the_timeout(took: Duration, what: &str) {
    assert!(took >= TIMEOUT && took < TIMEOUT + SLACK, "{what}: closed after {took:?}");
}

#[tokio::test]
async fn connections_that_send_nothing_one_byte_or_an_http2_preface_are_closed_after_the_idle_timeout() {
    let host = TestHost::with(Options { read_timeout: TIMEOUT, ..Options::default() }).await;
    let h2_preface_and_settings = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    for (what, sent) in
        [("silent", &b""[..]), ("one byte", b"P"), ("HTTP/2 preface", h2_preface_and_settings)]
    {
        let mut tcp = connect(&host).await;
        tcp.write_all(sent).await.unwrap();
        let (_, took) = read_until_closed(&mut tcp).await;
        assert_closed_at_the_timeout(took, what);
    }
}

#[tokio::test]
async fn an_http2_connection_idle_after_its_request_is_closed_after_the_idle_timeout() {
    let host = TestHost::with(Options { read_timeout: TIMEOUT, ..Options::default() }).await;
    let (mut client, connection) = h2::client::handshake(connect(&host).await).await.unwrap();
    let connection = tokio::spawn(timed(connection));
    let request = http::Request::post(format!("{}/echo", host.url))
        .header("authorization", format!("Bearer {KEY}"))
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from(query("h2").to_string()), true).unwrap();
    let mut response = response.await.unwrap().into_body();
    let mut sse = Vec::new();
    while let Some(chunk) = response.data().await {
        let chunk = chunk.unwrap();
        let _ = response.flow_control().release_capacity(chunk.len());
        sse.extend_from_slice(&chunk);
    }
    assert_eq!(pairs(&parse_sse(&sse))[0], ("text", &json!({"text": "h2"})));
    let answered = std::time::Instant::now();
    let patience = TIMEOUT + Duration::from_secs(10);
    let (ended, _) =
        tokio::time::timeout(patience, connection).await.expect("the host kept it open").unwrap();
    let idle = answered.elapsed();
    assert!(
        idle >= TIMEOUT - Duration::from_millis(50) && idle < TIMEOUT + SLACK,
        "closed {idle:?} after the answer"
    );
    drop((ended, client));
}

#[tokio::test]
async fn past_the_connection_cap_a_client_gets_503_and_others_are_still_served_after() {
    let host = TestHost::with(Options { max_connections: 2, ..Options::default() }).await;
    let (held1, held2) = (connect(&host).await, connect(&host).await);
    let mut refused = connect(&host).await;
    let (reply, _) = read_until_closed(&mut refused).await;
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{reply}");
    assert!(
        reply.contains("retry-after: 1\r\n")
            && reply.ends_with("{\"detail\":\"too many open connections\"}\n")
    );
    drop((held1, held2));
    // The held connections' places come back once the host sees them closed.
    let start = std::time::Instant::now();
    loop {
        match host
            .client
            .post(format!("{}/echo", host.url))
            .bearer_auth(KEY)
            .json(&query("again"))
            .send()
            .await
        {
            Ok(response) if response.status() == 200 => break,
            _ => assert!(start.elapsed() < Duration::from_secs(5), "no place came back"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_connection_and_its_call_after_the_write_timeout() {
    let limits = poe_host::sandbox::limits::Limits {
        timeout: Duration::from_secs(120),
        max_output_bytes: 1 << 40,
        ..Default::default()
    };
    let options = Options {
        bots: vec![("misbehave", guests::MISBEHAVE), ("echo", guests::ECHO)],
        write_timeout: TIMEOUT,
        limits,
        ..Options::default()
    };
    let host = TestHost::with(options).await;
    let mut tcp = connect(&host).await;
    let body = query("pour").to_string();
    let request = format!(
        "POST /misbehave HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {KEY}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // The bot pours until its client is gone, and nobody reads: the socket fills, the write
    // blocks, and the call must end at the write timeout, not at its 120 s deadline.
    let freed = host.idle_within(TIMEOUT + Duration::from_secs(10)).await;
    assert!(freed < TIMEOUT + Duration::from_secs(5), "call freed after {freed:?}");
    assert_eq!(pairs(&host.query("echo", "still here").await)[0].0, "text");
    drop(tcp);
}

#[tokio::test]
async fn past_the_body_budget_a_request_gets_503_while_earlier_calls_hold_their_bytes() {
    // Each request holds its 4 KiB body plus 320 bytes per JSON value (~3 KiB): one fits.
    let host = TestHost::with(Options { body_bytes_in_flight: 10_000, ..Options::default() }).await;
    let mut sleeper = query("sleep 1500");
    sleeper["metadata"] = json!("m".repeat(4000));
    let sleeping = tokio::spawn({
        let (client, url) = (host.client.clone(), format!("{}/showcase", host.url));
        async move { client.post(url).bearer_auth(KEY).json(&sleeper).send().await.unwrap().bytes().await }
    });
    let mut second = query("second");
    second["metadata"] = json!("m".repeat(4000));
    let start = std::time::Instant::now();
    let refused = loop {
        let response = host.post("echo", &second).await;
        if response.status() == 503 || start.elapsed() > Duration::from_secs(5) {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // until the sleeper holds its share
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "the host is busy: retry shortly"})
    );
    sleeping.await.unwrap().unwrap();
    assert_eq!(host.post("echo", &second).await.status(), 200, "the share came back when the call ended");
}

#[tokio::test]
async fn a_body_of_too_many_values_or_too_deep_is_400_naming_the_bound() {
    let host = TestHost::start().await;
    let tiny = vec![json!({"role": "user", "content": ""}); 100_000];
    let response = host.post("echo", &query_messages(json!(tiny))).await;
    assert_eq!(response.status(), 400);
    let detail = response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert_eq!(detail, "invalid request body: the body has more than 200000 JSON values");
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let body = query("hi").to_string().replacen('{', &format!(r#"{{"extra_params":{{"x":{deep}}},"#), 1);
    let response = host.post_raw("echo", Some(&format!("Bearer {KEY}")), body).await;
    assert_eq!(response.status(), 400);
    let detail = response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert_eq!(detail, "invalid request body: the body nests deeper than 128 levels");
}

#[tokio::test]
async fn settings_too_large_to_send_are_refused_with_500_fast() {
    let host =
        TestHost::with(Options { bots: vec![("misbehave", guests::MISBEHAVE)], ..Options::default() }).await;
    let (response, took) =
        timed(host.post("misbehave", &json!({"version": "1.2", "type": "settings"}))).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.text().await.unwrap(), "Internal Server Error");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}
