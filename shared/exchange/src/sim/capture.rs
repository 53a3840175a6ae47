use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

/// One line of a raw WebSocket capture: `<local_recv_ns> <json>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureLine {
    /// When the message was received, local clock, ns since the epoch.
    pub recv_ns: i64,
    /// The message as received.
    pub json: String,
}

impl CaptureLine {
    /// The receive time in whole milliseconds.
    #[must_use]
    pub const fn recv_ms(&self) -> i64 {
        self.recv_ns.div_euclid(1_000_000)
    }
}

/// Reads a raw capture (`.gz` or plain text). Lines that are not `<integer> <text>` are counted
/// in the second value and skipped.
///
/// # Errors
///
/// Fails if the file cannot be read or decompressed.
pub fn load_capture(path: &Path) -> std::io::Result<(Vec<CaptureLine>, u64)> {
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut lines = Vec::new();
    let mut skipped = 0;
    for line in BufReader::with_capacity(1 << 16, reader).lines() {
        let line = line?;
        match parse_capture_line(&line) {
            Some(parsed) => lines.push(parsed),
            None if line.trim().is_empty() => {}
            None => skipped += 1,
        }
    }
    Ok((lines, skipped))
}

fn parse_capture_line(line: &str) -> Option<CaptureLine> {
    let (ns, json) = line.split_once(' ')?;
    let recv_ns = ns.parse().ok()?;
    Some(CaptureLine {
        recv_ns,
        json: json.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let line = parse_capture_line("1723161254087896568 {\"a\":1}").unwrap();
        assert_eq!(line.recv_ns, 1_723_161_254_087_896_568);
        assert_eq!(line.recv_ms(), 1_723_161_254_087);
        assert_eq!(line.json, "{\"a\":1}");
        assert!(parse_capture_line("x {}").is_none());
        assert!(parse_capture_line("123").is_none());
    }
}
