//! TCP server: one thread per connection, a bounded number of connections.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::ffi::Signer;
use crate::protocol::{respond, LineBuffer, NextLine};

pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const READ_CHUNK: usize = 4096;
const MAX_DRAIN_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    /// Without IPv6 brackets.
    pub host: String,
    /// 0 picks any free port.
    pub port: u16,
}

/// Parse `HOST:PORT` or `[IPV6]:PORT`; `None` if malformed.
pub fn parse_listen_address(text: &str) -> Option<ListenAddress> {
    let colon = text.rfind(':')?;
    if colon == 0 {
        return None;
    }
    let (mut host, port) = (&text[..colon], &text[colon + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        host = inner.strip_suffix(']')?;
        if host.is_empty() {
            return None;
        }
    } else if host.contains(':') {
        return None; // an IPv6 host needs brackets
    }
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    Some(ListenAddress {
        host: host.to_string(),
        port,
    })
}

/// Send a final error line and close without resetting the connection: stop writing, then
/// read and discard what the peer still sends (bounded; without waiting unless `drain`).
fn close_with_error(mut stream: TcpStream, line: &[u8], drain: bool) {
    let _ = stream.write_all(line);
    let _ = stream.shutdown(Shutdown::Write);
    if !drain && stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut discard = [0u8; READ_CHUNK];
    let mut drained = 0;
    while drained < MAX_DRAIN_BYTES {
        match stream.read(&mut discard) {
            Ok(0) => break,
            Ok(got) => drained += got,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn handle_connection(mut stream: TcpStream, signer: &Signer) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let mut buffer = LineBuffer::default();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let got = match stream.read(&mut chunk) {
            // Peer closed (an unterminated last line is discarded).
            Ok(0) => return,
            Ok(got) => got,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return, // error or idle timeout
        };
        buffer.append(&chunk[..got]);
        loop {
            match buffer.next_line() {
                NextLine::NeedMore => break,
                NextLine::TooLong => {
                    close_with_error(stream, b"ERR line too long\n", true);
                    return;
                }
                NextLine::Line(line) => {
                    if stream.write_all(respond(&line, signer).as_bytes()).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Holds one of the bounded connection slots; released on drop (also when a thread panics).
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bind, print `listening on HOST:PORT` to stdout, then serve forever.
pub fn serve(
    address: &ListenAddress,
    signer: Arc<Signer>,
    max_connections: usize,
) -> Result<(), String> {
    let listener = TcpListener::bind((address.host.as_str(), address.port)).map_err(|error| {
        format!(
            "cannot listen on {}:{}: {error}",
            address.host, address.port
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("getsockname failed: {error}"))?;
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "listening on {bound}");
    let _ = stdout.flush();
    let active = Arc::new(AtomicUsize::new(0));
    for incoming in listener.incoming() {
        let stream = match incoming {
            Ok(stream) => stream,
            Err(error) => {
                if error.kind() != io::ErrorKind::Interrupted
                    && error.kind() != io::ErrorKind::ConnectionAborted
                {
                    eprintln!("echo-rust: accept failed: {error}");
                    thread::sleep(Duration::from_millis(100)); // e.g. out of descriptors
                }
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= max_connections {
            close_with_error(stream, b"ERR busy\n", false);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let slot = ConnectionSlot(Arc::clone(&active));
        let signer = Arc::clone(&signer);
        // Keep a handle so the connection can still be refused if no thread can be started.
        let fallback = stream.try_clone();
        let spawned = thread::Builder::new()
            .name("connection".to_string())
            .spawn(move || {
                let _slot = slot;
                handle_connection(stream, &signer);
            });
        if let Err(error) = spawned {
            eprintln!("echo-rust: cannot start a connection thread: {error}");
            if let Ok(stream) = fallback {
                close_with_error(stream, b"ERR busy\n", false);
            }
        }
    }
    Err("the listener stopped".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses_to(text: &str, host: &str, port: u16) -> bool {
        parse_listen_address(text)
            == Some(ListenAddress {
                host: host.to_string(),
                port,
            })
    }

    #[test]
    fn parses_listen_addresses() {
        assert!(parses_to("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(parses_to("localhost:0", "localhost", 0));
        assert!(parses_to("[::1]:65535", "::1", 65535));
        assert!(parses_to("0.0.0.0:1", "0.0.0.0", 1));
        for bad in [
            "",
            "8080",
            ":8080",
            "host:",
            "host:65536",
            "host:-1",
            "host:80x",
            "::1:80",
            "[::1:80",
            "[]:80",
            "host:123456",
            "host:+80",
        ] {
            assert_eq!(parse_listen_address(bad), None, "{bad}");
        }
    }
}
