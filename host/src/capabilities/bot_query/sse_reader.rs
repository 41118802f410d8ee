//! [`SseReader`]: a called bot's `text/event-stream` answer, bytes in and events out, parsed
//! as httpx-sse parses it for fastapi_poe's client — and bounded, since the upstream is not
//! trusted: one event may not grow past a byte limit however it arrives.

/// One event: its name (`message` when it had none) and its data lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message`.
    pub event: String,
    /// The `data:` fields, joined with `\n`.
    pub data: String,
}

/// An event, or a line on the way to one, outgrew the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event of the answer is larger than {0} bytes")]
pub struct EventTooLarge(pub usize);

/// Incremental parser: lines end at `\r\n`, `\r` or `\n`; a blank line ends an event;
/// `:` lines are comments; `id` and `retry` are read and ignored, as fastapi_poe does.
pub struct SseReader {
    line: Vec<u8>,
    /// A `\r` ended the last chunk: a `\n` opening the next belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Vec<String>,
    /// Whether the event under way has any field (an all-comment block dispatches nothing).
    started: bool,
    /// Bytes of the event under way, its current line included.
    size: usize,
    max_event: usize,
}

impl SseReader {
    /// A reader refusing any event larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: Vec::new(),
            started: false,
            size: 0,
            max_event,
        }
    }

    /// Feed the next chunk of the body; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.grow(&chunk[..end])?;
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.line_done(&line) {
                out.push(event);
            }
            let cr = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.grow(chunk)
    }

    fn grow(&mut self, bytes: &[u8]) -> Result<(), EventTooLarge> {
        self.size += bytes.len();
        if self.size > self.max_event {
            return Err(EventTooLarge(self.max_event));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            "id" | "retry" => {}
            _ => return None,
        }
        self.started = true;
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        self.size = 0;
        if !std::mem::take(&mut self.started) {
            return None;
        }
        let event = self.event.take().filter(|e| !e.is_empty()).unwrap_or_else(|| "message".into());
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut reader = SseReader::new(1 << 20);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk, &mut out).unwrap();
        }
        out.into_iter().map(|e| (e.event, e.data)).collect()
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.into(), data.into())
    }

    #[test]
    fn every_line_ending_and_a_split_crlf_frame_events_alike() {
        let want = vec![ev("text", "{\"text\":\"a\"}"), ev("done", "{}")];
        for body in [
            &b"event: text\ndata: {\"text\":\"a\"}\n\nevent: done\ndata: {}\n\n"[..],
            b"event: text\r\ndata: {\"text\":\"a\"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n",
            b"event: text\rdata: {\"text\":\"a\"}\r\revent: done\rdata: {}\r\r",
        ] {
            assert_eq!(parse(&[body]), want);
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(parse(&bytes), want, "byte by byte");
        }
    }

    #[test]
    fn comments_ids_and_unnamed_events_are_read_as_httpx_sse_reads_them() {
        let body = b": ping\n\nid: 7\nretry: 10\ndata: a\ndata: b\n\nevent:x\ndata\n\nnofield\n\n";
        assert_eq!(parse(&[body]), vec![ev("message", "a\nb"), ev("x", "")]);
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_not_dispatched() {
        assert_eq!(parse(&[b"event: text\ndata: {}\n"]), vec![]);
    }

    #[test]
    fn an_event_past_the_limit_is_refused_however_it_arrives() {
        let mut reader = SseReader::new(100);
        let mut out = Vec::new();
        assert!(reader.push(&[b'x'; 60], &mut out).is_ok());
        assert_eq!(reader.push(&[b'x'; 60], &mut out), Err(EventTooLarge(100)), "one long line");
        let mut reader = SseReader::new(100);
        let many = b"data: 0123456789\n".repeat(10);
        assert_eq!(reader.push(&many, &mut out), Err(EventTooLarge(100)), "many data lines");
        let mut reader = SseReader::new(100);
        let events = b"data: 0123456789\n\n".repeat(50);
        assert!(reader.push(&events, &mut out).is_ok(), "small events never add up");
    }
}
