//! Cairn echo wire protocol: request parsing, the signed message, responses and bounded line
//! reading. The format is specified in services/README.md; echo-cpp implements the same bytes.

use crate::ffi::{sha256, Signer};

/// Longest request line accepted, in bytes, not counting the terminating `\n`.
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest request id, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 64;
/// Domain separator that starts every signed message (14 bytes, NUL included).
pub const MESSAGE_DOMAIN: &[u8; 14] = b"cairn-echo-v1\0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub id: &'a str,
    pub payload: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    BadRequestId,
    PayloadNotUtf8,
}

impl RequestError {
    /// Words after `ERR ` in the error line.
    pub fn reason(self) -> &'static str {
        match self {
            RequestError::BadRequestId => "bad request-id",
            RequestError::PayloadNotUtf8 => "payload not utf-8",
        }
    }
}

/// True if `id` is 1-64 characters from `[A-Za-z0-9._-]`.
pub fn is_valid_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_BYTES
        && id
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
}

/// Parse one request line (without its `\n`): `<request-id>` optionally followed by one space
/// and the payload (the rest of the line).
pub fn parse_request(line: &[u8]) -> Result<Request<'_>, RequestError> {
    let (id, payload): (&[u8], &[u8]) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &[]),
    };
    if !is_valid_request_id(id) {
        return Err(RequestError::BadRequestId);
    }
    let payload = std::str::from_utf8(payload).map_err(|_| RequestError::PayloadNotUtf8)?;
    let id = std::str::from_utf8(id).map_err(|_| RequestError::BadRequestId)?;
    Ok(Request { id, payload })
}

/// The signed message: domain || u8(len(id)) || id || payload. `id` must be a valid request id.
pub fn echo_message(id: &str, payload: &str) -> Vec<u8> {
    debug_assert!(is_valid_request_id(id.as_bytes()));
    let mut message = Vec::with_capacity(MESSAGE_DOMAIN.len() + 1 + id.len() + payload.len());
    message.extend_from_slice(MESSAGE_DOMAIN);
    message.push(id.len() as u8);
    message.extend_from_slice(id.as_bytes());
    message.extend_from_slice(payload.as_bytes());
    message
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// `OK <id> <hex payload> <hex signature>\n` or `ERR <reason>\n` for `line` (without `\n`).
pub fn respond(line: &[u8], signer: &Signer) -> String {
    let request = match parse_request(line) {
        Ok(request) => request,
        Err(error) => return format!("ERR {}\n", error.reason()),
    };
    let digest = sha256(&echo_message(request.id, request.payload));
    match signer.sign_digest(&digest) {
        Ok(signature) => format!(
            "OK {} {} {}\n",
            request.id,
            to_hex(request.payload.as_bytes()),
            to_hex(&signature)
        ),
        Err(error) => {
            eprintln!("echo-rust: signing failed: {error}");
            "ERR internal\n".to_string()
        }
    }
}

/// Next result of [`LineBuffer::next_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum NextLine {
    /// A complete line, without its `\n`.
    Line(Vec<u8>),
    /// No complete line yet.
    NeedMore,
    /// The next line exceeds [`MAX_LINE_BYTES`].
    TooLong,
}

/// Accumulates received bytes and splits them into lines of at most [`MAX_LINE_BYTES`].
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    pub fn append(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    pub fn next_line(&mut self) -> NextLine {
        match self.pending.iter().position(|&b| b == b'\n') {
            Some(newline) if newline > MAX_LINE_BYTES => NextLine::TooLong,
            Some(newline) => {
                let mut line: Vec<u8> = self.pending.drain(..=newline).collect();
                line.pop();
                NextLine::Line(line)
            }
            None if self.pending.len() > MAX_LINE_BYTES => NextLine::TooLong,
            None => NextLine::NeedMore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::{verify, SecretKey};

    fn parses_to(line: &[u8], id: &str, payload: &str) -> bool {
        parse_request(line) == Ok(Request { id, payload })
    }

    #[test]
    fn parses_requests() {
        assert!(parses_to(b"req-1 hello world", "req-1", "hello world"));
        assert!(parses_to(b"a", "a", ""));
        assert!(parses_to(b"a ", "a", ""));
        assert!(parses_to(b"a  two", "a", " two"));
        assert!(parses_to(b"a x\r", "a", "x\r"));
        assert!(parses_to("A.b_c-9 é".as_bytes(), "A.b_c-9", "é"));
        assert!(parses_to(b"id a\0b", "id", "a\0b"));
        let longest = "z".repeat(64);
        assert!(parses_to(format!("{longest} p").as_bytes(), &longest, "p"));
    }

    #[test]
    fn rejects_bad_requests() {
        let bad_id = Err(RequestError::BadRequestId);
        assert_eq!(parse_request(b""), bad_id);
        assert_eq!(parse_request(b" payload"), bad_id);
        assert_eq!(
            parse_request(format!("{} p", "z".repeat(65)).as_bytes()),
            bad_id
        );
        assert_eq!(parse_request(b"bad/id x"), bad_id);
        assert_eq!(parse_request(b"id\ttab"), bad_id);
        assert_eq!(parse_request("é x".as_bytes()), bad_id);
        assert_eq!(parse_request(b"bad! \xff"), bad_id);
        assert_eq!(parse_request(b"id \xff"), Err(RequestError::PayloadNotUtf8));
        for invalid in [
            &b"\x80"[..],
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",
            b"\xf0\x80\x80\xaf",
            b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80",
            b"\xe2\x9c",
        ] {
            let mut line = b"id ".to_vec();
            line.extend_from_slice(invalid);
            assert_eq!(
                parse_request(&line),
                Err(RequestError::PayloadNotUtf8),
                "{invalid:?}"
            );
        }
        assert_eq!(RequestError::BadRequestId.reason(), "bad request-id");
        assert_eq!(RequestError::PayloadNotUtf8.reason(), "payload not utf-8");
    }

    #[test]
    fn builds_message_and_hex() {
        assert_eq!(
            echo_message("req-1", "hello"),
            b"cairn-echo-v1\0\x05req-1hello".to_vec()
        );
        assert_eq!(echo_message("a", ""), b"cairn-echo-v1\0\x01a".to_vec());
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(to_hex(&[]), "");
    }

    #[test]
    fn splits_lines_with_a_bound() {
        let mut buffer = LineBuffer::default();
        buffer.append(b"one\ntw");
        assert_eq!(buffer.next_line(), NextLine::Line(b"one".to_vec()));
        assert_eq!(buffer.next_line(), NextLine::NeedMore);
        buffer.append(b"o\n\n");
        assert_eq!(buffer.next_line(), NextLine::Line(b"two".to_vec()));
        assert_eq!(buffer.next_line(), NextLine::Line(Vec::new()));
        assert_eq!(buffer.next_line(), NextLine::NeedMore);

        let longest = vec![b'x'; MAX_LINE_BYTES];
        let mut at_limit = LineBuffer::default();
        at_limit.append(&longest);
        assert_eq!(at_limit.next_line(), NextLine::NeedMore);
        at_limit.append(b"\n");
        assert_eq!(at_limit.next_line(), NextLine::Line(longest.clone()));

        let mut unterminated = LineBuffer::default();
        unterminated.append(&longest);
        unterminated.append(b"x");
        assert_eq!(unterminated.next_line(), NextLine::TooLong);

        let mut terminated = LineBuffer::default();
        terminated.append(&longest);
        terminated.append(b"x\nnext\n");
        assert_eq!(terminated.next_line(), NextLine::TooLong);
    }

    // Known answers computed independently with Python `cryptography` (ECDSA/SHA-256 with
    // RFC 6979 nonces, then s := n - s if s > n/2); echo-cpp's ctest checks the same values.
    const SIGNATURE_REQ_1_HELLO: &str = "ad25991a7c3d67c70883567f430a6307e53dbfc4793b3d8a27ca7a1d5a15a3c7\
                                         5a2cb63ffa1e4d77fc3d731a413bbdaf37ba4f791dd6be9e6bb46290a9c105e5";
    const SIGNATURE_A_EMPTY: &str = "1a7473e5166834cae6ca89089e774f4d5d01edf77ba89b1a455cc48236b2d810\
                                     44fd37ca34df095876c59ae57372149e5622819b76cc7ac2f4e8b02670db5dcf";

    fn fixed_key() -> SecretKey {
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = i as u8 + 1;
        }
        key
    }

    #[test]
    fn signs_known_answers() {
        let signer = Signer::new(&fixed_key()).unwrap();
        assert_eq!(
            to_hex(signer.public_key()),
            "0284bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0"
        );
        let digest = sha256(&echo_message("req-1", "hello"));
        assert_eq!(
            to_hex(&digest),
            "b388dd76e61e43e5aae64261a5a1c4d0120f73d3a748a30379d7adca6608ab97"
        );
        assert_eq!(
            to_hex(&signer.sign_digest(&digest).unwrap()),
            SIGNATURE_REQ_1_HELLO
        );
        let long_id = "x.".repeat(32);
        let digest = sha256(&echo_message(&long_id, "héllo wörld ✓"));
        assert_eq!(
            to_hex(&signer.sign_digest(&digest).unwrap()),
            "6b2db00797b60375c32a157d0659916c976828b3a46f9aa182ffada946ace91d\
             4022fd950825181622ba56c296b945992ce1fc9f8e548ed6f6516dcdc613d455"
        );
    }

    #[test]
    fn responds_with_lines() {
        let signer = Signer::new(&fixed_key()).unwrap();
        assert_eq!(
            respond(b"req-1 hello", &signer),
            format!("OK req-1 68656c6c6f {SIGNATURE_REQ_1_HELLO}\n")
        );
        assert_eq!(
            respond(b"a", &signer),
            format!("OK a  {SIGNATURE_A_EMPTY}\n")
        );
        assert_eq!(respond(b"", &signer), "ERR bad request-id\n");
        assert_eq!(respond(b"no/slash x", &signer), "ERR bad request-id\n");
        assert_eq!(respond(b"id \xc3", &signer), "ERR payload not utf-8\n");
    }

    #[test]
    fn signatures_verify_and_are_low_s() {
        let signer = Signer::new(&fixed_key()).unwrap();
        for i in 0..32 {
            let digest = sha256(&echo_message("id", &format!("payload {i}")));
            let signature = signer.sign_digest(&digest).unwrap();
            let checked = verify(signer.public_key(), &digest, &signature).unwrap();
            assert!(checked.valid && checked.low_s);
            let mut tampered = digest;
            tampered[0] ^= 1;
            assert!(
                !verify(signer.public_key(), &tampered, &signature)
                    .unwrap()
                    .valid
            );
        }
    }

    #[test]
    fn refuses_invalid_keys() {
        assert!(Signer::new(&[0u8; 32]).is_err());
        assert!(Signer::new(&[0xffu8; 32]).is_err());
        assert!(crate::ffi::is_valid_secret_key(&fixed_key()));
    }
}
