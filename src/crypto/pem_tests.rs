//! The PEM reader on the layouts other tools write and on broken and hostile input. The
//! expected bytes are what the text was made from (base64ct's strict encoder); the
//! layouts are those of the tools named (checked against `openssl req -in` by the
//! integration tests in tests/cli/).

use super::*;

/// 700 bytes of every value: every base64 character, and a last group of one byte (`==`).
fn payload() -> Vec<u8> {
    (0..700u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// `payload` as a PEM block of `label`, its base64 wrapped at `width` (0: one line),
/// lines ended by `eol`.
fn wrapped(label: &str, width: usize, eol: &str) -> String {
    let b64 = Base64::encode_string(&payload());
    let mut out = format!("-----BEGIN {label}-----{eol}");
    let width = if width == 0 { b64.len() } else { width };
    for chunk in b64.as_bytes().chunks(width) {
        out += std::str::from_utf8(chunk).unwrap();
        out += eol;
    }
    out + &format!("-----END {label}-----{eol}")
}

fn read(text: &str) -> Vec<Result<Block, PemError>> {
    blocks(text).collect()
}

fn one(text: &str) -> Block {
    let mut all = read(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0).unwrap()
}

#[test]
fn any_line_width_and_line_end_reads_the_same_bytes() {
    // 64: OpenSSL and RFC 7468; 76: Python's base64.encodebytes, Java's MIME encoder;
    // 0: one long line; 1 and 3: widths no tool uses, to show nothing counts columns.
    for width in [64, 76, 0, 1, 3] {
        for eol in ["\n", "\r\n"] {
            let block = one(&wrapped("CERTIFICATE REQUEST", width, eol));
            assert_eq!(block.label, "CERTIFICATE REQUEST", "{width} {eol:?}");
            assert_eq!((block.line, block.headers.len()), (1, 0), "{width} {eol:?}");
            assert_eq!(*block.der, payload(), "{width} {eol:?}");
        }
    }
}

#[test]
fn text_around_and_between_blocks_is_skipped() {
    let text = format!(
        "\u{feff}Bag Attributes\r\n    localKeyID: 01 02\r\nsubject=CN=x\r\n{}# a comment\n\n{}trailing text",
        wrapped("CERTIFICATE", 64, "\r\n"),
        // Indented and with trailing blanks, as pasted from a mail or a YAML block.
        wrapped("PRIVATE KEY", 76, "\n")
            .replace("-----BEGIN PRIVATE KEY-----", "  -----BEGIN PRIVATE KEY-----  ")
    );
    let all: Vec<Block> = read(&text).into_iter().map(Result::unwrap).collect();
    let found: Vec<(&str, usize)> = all.iter().map(|b| (b.label.as_str(), b.line)).collect();
    assert_eq!(found, [("CERTIFICATE", 4), ("PRIVATE KEY", 23)]);
    assert!(all.iter().all(|b| *b.der == payload()));
    // A BEGIN line must be a line of its own: inside other text it is text.
    assert!(read("see -----BEGIN CERTIFICATE----- here\n").is_empty());
    // An END line outside any block is text too.
    assert!(read("-----END CERTIFICATE-----\n").is_empty());
}

#[test]
fn nothing_at_all_is_no_block() {
    assert!(read("").is_empty());
    assert!(read("\n\r\n  \n").is_empty());
    assert!(read("just text\nno PEM here\n").is_empty());
    // An empty body is a block with no bytes: whether that is a key is the reader's call.
    let empty = one("-----BEGIN X-----\n-----END X-----\n");
    assert!(empty.der.is_empty());
}

#[test]
fn whitespace_and_blank_lines_inside_the_body_are_ignored() {
    let b64 = Base64::encode_string(&payload());
    let (a, b) = b64.split_at(100);
    let text = format!("-----BEGIN X-----\n\n {a} \t\n\r\n{} {}\n\n-----END X-----", &b[..50], &b[50..]);
    assert_eq!(*one(&text).der, payload());
}

#[test]
fn headers_are_returned_and_legacy_encryption_is_told() {
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n\
                  DEK-Info: AES-128-CBC,00112233\r\n\r\nAAAA\r\n-----END RSA PRIVATE KEY-----\r\n";
    let block = one(legacy);
    assert_eq!(
        block.headers,
        [("Proc-Type".into(), "4,ENCRYPTED".into()), ("DEK-Info".into(), "AES-128-CBC,00112233".into())]
    );
    assert!(block.is_legacy_encrypted());
    assert_eq!(*block.der, [0, 0, 0]);
    // A folded header; headers that no blank line ends.
    let folded = "-----BEGIN X-----\nComment: one\n  two\nAAAA\n-----END X-----\n";
    let block = one(folded);
    assert_eq!(block.headers, [("Comment".into(), "one two".into())]);
    assert!(!block.is_legacy_encrypted());
    assert_eq!(*block.der, [0, 0, 0]);
    // Below the first base64 line, a ':' is no header but a broken body.
    let late = "-----BEGIN X-----\nAAAA\nProc-Type: 4,ENCRYPTED\n-----END X-----\n";
    assert!(matches!(&read(late)[0], Err(PemError::NotBase64 { line: 3, found: '-', .. })));
}

#[test]
fn a_truncated_block_is_named_and_the_blocks_after_it_are_read() {
    let cut = "x\n-----BEGIN PRIVATE KEY-----\nAAAA\n";
    let all = read(cut);
    assert_eq!(all.len(), 1);
    let err = all[0].as_ref().unwrap_err();
    assert_eq!(*err, PemError::Unterminated { begin: 2, label: "PRIVATE KEY".into() });
    assert_eq!(
        err.to_string(),
        "line 2: `-----BEGIN PRIVATE KEY-----` has no `-----END PRIVATE KEY-----` line"
    );
    assert_eq!(label(&all[0]), "PRIVATE KEY");
    // Cut short by the next BEGIN line: that block is read.
    let text =
        format!("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n{}", wrapped("CERTIFICATE REQUEST", 64, "\n"));
    let all = read(&text);
    assert_eq!(all.len(), 2);
    assert!(matches!(&all[0], Err(PemError::Unterminated { begin: 1, .. })));
    assert_eq!(all[1].as_ref().map(|b| (b.line, b.der.len())).unwrap(), (3, 700));
}

#[test]
fn an_end_line_of_another_label_is_refused() {
    let text = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN X-----\nAAAA\n-----END X-----\n";
    let all = read(text);
    let err = all[0].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 3: `-----END CERTIFICATE-----` ends the `CERTIFICATE REQUEST` block of line 1"
    );
    assert_eq!(label(&all[0]), "CERTIFICATE REQUEST");
    assert_eq!(all[1].as_ref().unwrap().label, "X");
}

#[test]
fn bad_base64_is_refused_with_its_line() {
    let text = "-----BEGIN X-----\nAAAA\nAA%A\n-----END X-----\n";
    let err = read(text).remove(0).unwrap_err();
    assert_eq!(err.to_string(), "line 3: '%' is not base64 (in the `X` block of line 1)");
    // Non-ASCII, and the URL-safe alphabet (not PEM's).
    assert!(matches!(&read("-----BEGIN X-----\nAAé=\n-----END X-----")[0], Err(PemError::NotBase64 { .. })));
    assert!(matches!(&read("-----BEGIN X-----\nA-_A\n-----END X-----")[0], Err(PemError::NotBase64 { .. })));
    // A lost character, padding in the middle, a lone `=`, missing padding.
    for body in ["AAA", "AA==AAAA", "=", "AAAAAA", "A===", "AAAAA==="] {
        let text = format!("\n-----BEGIN X-----\n{body}\n-----END X-----\n");
        let err = read(&text).remove(0).unwrap_err();
        assert_eq!(err, PemError::Base64 { begin: 2, label: "X".into() }, "{body}");
    }
}

#[test]
fn debug_shows_no_key_bytes() {
    let block = one(&wrapped("PRIVATE KEY", 64, "\n"));
    let shown = format!("{block:?}");
    assert_eq!(shown, "Block { label: \"PRIVATE KEY\", line: 1, headers: [], der_len: 700 }");
}

#[test]
fn hostile_input_is_linear_and_never_panics() {
    // A million BEGIN lines: each cuts the one before short; one error each.
    let many = "-----BEGIN A-----\n".repeat(1_000_000);
    let all = read(&many);
    assert_eq!(all.len(), 1_000_000);
    assert!(all.iter().all(|b| matches!(b, Err(PemError::Unterminated { .. }))));
    // 16 MiB of one line, outside and inside a block; BEGIN lines that never close.
    let garbage = "x-----BEGIN ".repeat(1 << 20);
    assert!(read(&garbage).is_empty());
    let inside = format!("-----BEGIN A-----\n{garbage}\n-----END A-----\n");
    assert!(matches!(&read(&inside)[0], Err(PemError::NotBase64 { line: 2, found: '-', .. })));
    let long = format!("-----BEGIN {}", "-".repeat(1 << 24));
    assert_eq!(read(&long).len(), 1, "a label of dashes is still a label");
    // Every byte value at every place of a small block: no panic, an answer each time.
    let base = wrapped("X", 8, "\r\n").into_bytes();
    for at in 0..base.len() {
        for byte in [0u8, b'\n', b'\r', b' ', b'-', b':', b'=', b'A', 0x80, 0xff] {
            let mut text = base.clone();
            text[at] = byte;
            let _ = read(&String::from_utf8_lossy(&text));
        }
    }
}
