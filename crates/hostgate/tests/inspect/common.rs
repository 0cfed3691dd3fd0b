//! Shared by the inspect tests and `allocation.rs`: the captured fixtures and the tls-parser
//! oracle.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One captured fixture: the bytes and its expected values.
pub struct Fixture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: BTreeMap<String, String>,
}

impl Fixture {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.expect.get(key).map(String::as_str)
    }
    pub fn protocol(&self) -> &str {
        self.get("protocol").expect("protocol")
    }
    pub fn is_udp(&self) -> bool {
        self.get("transport") == Some("udp")
    }
}

/// The committed fixtures, or `HOSTGATE_FIXTURES_DIR` (to test a fresh capture made with
/// `scripts/capture-fixtures.sh DIR`).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("HOSTGATE_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    }
}

/// Every `NAME.bin` with its `NAME.expect`, sorted by name.
pub fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("bin") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = std::fs::read_to_string(path.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{} has no .expect", path.display()));
        let expect = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.push(Fixture {
            name,
            bytes,
            expect,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 10,
        "fixtures missing: run scripts/capture-fixtures.sh"
    );
    out
}

/// What tls-parser 0.12 makes of a buffer: `Err` when it cannot parse a ClientHello (or its
/// extensions), else the host_name entries of its SNI extension (empty when none).
pub fn tls_parser_sni(buf: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use tls_parser::{
        parse_tls_client_hello_extensions, parse_tls_plaintext, SNIType, TlsExtension, TlsMessage,
        TlsMessageHandshake,
    };
    let (_, record) = parse_tls_plaintext(buf).map_err(|e| format!("record: {e:?}"))?;
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            let Some(ext) = ch.ext else {
                return Ok(Vec::new());
            };
            let (_, exts) =
                parse_tls_client_hello_extensions(ext).map_err(|e| format!("extensions: {e:?}"))?;
            let mut names = Vec::new();
            for e in exts {
                if let TlsExtension::SNI(list) = e {
                    for (t, name) in list {
                        if t == SNIType::HostName {
                            names.push(name.to_vec());
                        }
                    }
                }
            }
            return Ok(names);
        }
    }
    Err("no ClientHello".into())
}
