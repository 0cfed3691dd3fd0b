//! `hostgate inspect --expect quic`: one QUIC Initial datagram per file, decrypted with its
//! Initial keys, named and checked `via tls`. The datagrams are protected by the core's test
//! packet builder, whose output the core's tests check against the RFC 9001 and RFC 9369
//! example packets.

use std::path::Path;
use std::process::Command;

use hostgate::inspect::quic::{testing, Version};
use serde_json::Value;

fn datagram(name: &str, version: Version, sni: &str) -> String {
    let hello = testing::client_hello(sni.as_bytes(), &[b"h3"]);
    let d = testing::initial(
        version,
        &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08],
        0,
        &testing::crypto_frame(0, &hello),
    );
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, d).unwrap();
    path.to_str().unwrap().to_owned()
}

fn hostgate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn quic_initials_are_named_and_checked_via_tls() {
    let v1 = datagram("quic-v1.bin", Version::V1, "api.kadath.io");
    let v2 = datagram("quic-v2.bin", Version::V2, "ads.leng.com");
    let (code, out) = hostgate(&[
        "inspect",
        "--expect",
        "quic",
        "--format",
        "json",
        "--policy",
        "examples/policies/egress.policy",
        "--port",
        "443",
        &v1,
        &v2,
    ]);
    assert_eq!(code, 0);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0]["protocol"].as_str(),
            rows[0]["status"].as_str(),
            rows[0]["name"].as_str()
        ),
        (Some("quic"), Some("complete"), Some("api.kadath.io"))
    );
    // The example policy allows api.kadath.io (any port, any source) and denies .leng.com.
    assert_eq!(rows[0]["verdict"], "allow");
    assert_eq!(rows[1]["name"], "ads.leng.com");
    assert_eq!(rows[1]["verdict"], "deny");
}

#[test]
fn a_tampered_initial_is_malformed_and_denied() {
    let path = datagram("quic-tampered.bin", Version::V1, "api.kadath.io");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1; // the AEAD tag
    std::fs::write(&path, bytes).unwrap();
    let (code, out) = hostgate(&[
        "inspect",
        "--expect",
        "quic",
        "--format",
        "json",
        "--policy",
        "examples/policies/egress.policy",
        &path,
    ]);
    assert_eq!(code, 0);
    let row: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["status"], "malformed");
    assert_eq!(row["verdict"], "deny");
}
