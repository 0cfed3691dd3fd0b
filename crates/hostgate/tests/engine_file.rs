//! Engine files: an engine written with `to_bytes` and opened again (copied with `from_bytes`,
//! in place with `from_shared`) answers exactly as the compiled one — verdicts, explanations,
//! rule ids and lines — on the contract tables and on random policies; and every damaged or
//! inconsistent file is refused with the error that names what is wrong, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hostgate::{Engine, EngineFileError, PolicyId, Query, SharedBytes, Verdict, Via};
use proptest::prelude::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/contract")
}

/// `\xHH` is one raw byte; `<empty>` is the empty name (as in `contract.rs`).
fn unescape(s: &str) -> Vec<u8> {
    if s == "<empty>" {
        return Vec::new();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn via(s: &str) -> Option<Via> {
    match s {
        "tls" => Some(Via::Tls),
        "http" => Some(Via::Http),
        "connect" => Some(Via::Connect),
        "dns" => Some(Via::Dns),
        _ => None,
    }
}

fn render(v: &Verdict<'_>) -> String {
    match v.rule {
        Some(r) => format!(
            "{} {} {} {} #{}",
            v.action,
            v.reason,
            r.id(),
            r.line(),
            r.index()
        ),
        None => format!("{} {} - 0", v.action, v.reason),
    }
}

/// Everything a front end can read of one query: verdict, rule, explanation.
fn answer(e: &Engine, p: PolicyId, q: &Query<'_>) -> String {
    let x = e.explain(p, q);
    let matches: Vec<String> = x
        .matches
        .iter()
        .map(|m| format!("{:?} {}", m.rule, m.decides))
        .collect();
    format!(
        "{} | {:?} | {} | {}",
        render(&e.check(p, q)),
        x.normalized.map(|n| n.to_string()),
        matches.join("; "),
        x.why
    )
}

/// Everything an engine shows about itself: policies, settings, every rule, warnings.
fn shape(e: &Engine) -> String {
    let mut s = String::new();
    for (p, name) in e.policies() {
        s += &format!("{name} {:?} {}\n", e.policy_settings(p), e.rule_count(p));
        for i in 0..e.rule_count(p) {
            s += &format!("  {:?}\n", e.rule(p, i));
        }
    }
    for w in e.warnings() {
        s += &format!("{w:?}\n");
    }
    s
}

/// The engine reopened both ways, after checking both give back the same bytes.
fn reopen(e: &Engine) -> [Engine; 2] {
    let bytes = e.to_bytes();
    let copied = Engine::from_bytes(&bytes).expect("opens");
    let shared: SharedBytes = Arc::new(bytes.clone());
    let mapped = Engine::from_shared(&shared).expect("opens in place");
    assert!(mapped.is_shared());
    assert_eq!(copied.to_bytes(), bytes, "written again, the same bytes");
    assert_eq!(mapped.to_bytes(), bytes);
    [copied, mapped]
}

#[test]
fn contract_tables_answer_the_same_from_an_engine_file() {
    let text = std::fs::read_to_string(dir().join("queries.tsv")).unwrap();
    let mut rows: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') || line.starts_with("file\t") {
            continue;
        }
        let f: Vec<String> = line.split('\t').map(str::to_owned).collect();
        rows.entry(f[0].clone()).or_default().push(f);
    }
    let mut files = 0;
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(dir().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("policy") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(e) = Engine::compile(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        files += 1;
        for (how, o) in ["copied", "shared"].iter().zip(reopen(&e)) {
            assert_eq!(shape(&o), shape(&e), "{name} ({how})");
            for f in rows.get(&name).into_iter().flatten() {
                let n = unescape(&f[2]);
                let q = Query {
                    name: &n,
                    port: (f[3] != "-").then(|| f[3].parse().unwrap()),
                    via: via(&f[4]),
                };
                let Some(p) = e.policy(&f[1]) else { continue };
                let want = answer(&e, p, &q);
                let got = answer(&o, p, &q);
                if got != want {
                    bad.push(format!(
                        "{name} {f:?} ({how}):\n  want {want}\n  got  {got}"
                    ));
                }
                // The table's own expectation, for the reopened engine too.
                let table = f[5..].join(" ");
                let v = render(&o.check(p, &q));
                if !v.starts_with(&table) {
                    bad.push(format!(
                        "{name} {f:?} ({how}): table wants {table}, got {v}"
                    ));
                }
            }
        }
    }
    assert!(files >= 30, "{files} policy files");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A policy with every kind of rule: keyed shapes under shared keys, globs, regexes, CIDRs,
/// ports, sources, ids, several policies and precedences, and a warning.
const EVERYTHING: &str = "\
policy web
precedence most-specific
default deny
allow api.kadath.io port 443 via tls id api
allow **.kadath.io port 80-90,443
deny .leng.com
allow *.leng.com via http
allow api-*.celephais.io
allow ~^[a-z]+\\.regex\\.test$
allow 203.0.113.0/24
deny 2001:db8::/32
allow *google.com
policy dns
precedence deny-overrides
allow .kadath.io
deny api.kadath.io id no-api
allow ~^x.*\\.regex\\.test$
allow *
policy plain
allow kadath.io
allow kadath.io port 22
deny 198.51.100.7
";

fn queries() -> Vec<(&'static str, Option<u16>, Option<Via>)> {
    let names = [
        "api.kadath.io",
        "www.kadath.io",
        "kadath.io",
        "leng.com",
        "a.leng.com",
        "a.b.leng.com",
        "api-eu.celephais.io",
        "abc.regex.test",
        "xyz.regex.test",
        "203.0.113.9",
        "2001:db8::1",
        "198.51.100.7",
        "xgoogle.com",
        "nothing.example",
        "BAD..name",
    ];
    let mut q = Vec::new();
    for n in names {
        for (port, via) in [
            (None, None),
            (Some(443), Some(Via::Tls)),
            (Some(80), Some(Via::Http)),
            (Some(22), None),
        ] {
            q.push((n, port, via));
        }
    }
    q
}

#[test]
fn every_kind_of_rule_survives_the_file() {
    let e = Engine::compile(EVERYTHING).unwrap();
    assert!(!e.warnings().is_empty());
    for o in reopen(&e) {
        assert_eq!(shape(&o), shape(&e));
        for (p, _) in e.policies() {
            for &(n, port, via) in &queries() {
                let q = Query::new(n);
                let q = Query { port, via, ..q };
                assert_eq!(answer(&o, p, &q), answer(&e, p, &q), "{n} {port:?} {via:?}");
            }
        }
    }
}

#[test]
fn source_is_recorded() {
    let e = Engine::compile(EVERYTHING).unwrap();
    let bytes = e.to_bytes_with_source("everything.policy", EVERYTHING.as_bytes());
    let info = hostgate::EngineFileInfo::read(&bytes).unwrap();
    assert_eq!(info.source_name, "everything.policy");
    // SHA-256 of the text, computed independently of the writer's digest call.
    let want = {
        use sha2::Digest;
        let d: [u8; 32] = sha2::Sha256::digest(EVERYTHING.as_bytes()).into();
        d
    };
    assert_eq!(info.source_sha256, Some(want));
    assert_eq!(
        hostgate::EngineFileInfo::read(&e.to_bytes())
            .unwrap()
            .source_sha256,
        None
    );
}

/// The checksum as `docs/engine-file.md` defines it: XXH3-64 of each 256 KiB block of the bytes
/// after the fixed 40, then XXH3-64 of those digests (native `u64`s), here with another XXH3
/// implementation than the library's.
fn checksum(b: &[u8]) -> u64 {
    let digests: Vec<u8> = b[40..]
        .chunks(256 << 10)
        .flat_map(|block| xxhash_rust::xxh3::xxh3_64(block).to_ne_bytes())
        .collect();
    xxhash_rust::xxh3::xxh3_64(&digests)
}

/// The file's checksum recomputed, so that a test can make a file whose only fault is the one
/// it put there.
fn reseal(b: &mut [u8]) {
    let sum = checksum(b);
    b[32..40].copy_from_slice(&sum.to_ne_bytes());
}

#[test]
fn header_faults_are_named() {
    let good = Engine::compile(EVERYTHING).unwrap().to_bytes();
    let open = |b: &[u8]| Engine::from_bytes(b).map(|_| ()).unwrap_err();

    assert_eq!(open(b""), EngineFileError::NotEngineFile);
    assert_eq!(open(b"policy web\n"), EngineFileError::NotEngineFile);
    let mut b = good.clone();
    b[1] = b'X';
    assert_eq!(open(&b), EngineFileError::NotEngineFile);

    let mut b = good.clone();
    let other = hostgate::FORMAT_VERSION + 1;
    b[8..12].copy_from_slice(&other.to_le_bytes());
    assert_eq!(
        open(&b),
        EngineFileError::Version {
            found: other,
            supported: hostgate::FORMAT_VERSION
        }
    );
    assert!(open(&b).to_string().contains(&format!("version {other}")));
    // A file of the previous format (one 16-byte record a rule) is refused, not read.
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        open(&b),
        EngineFileError::Version { found: 1, .. }
    ));

    let mut b = good.clone();
    b[12..16].reverse();
    assert_eq!(open(&b), EngineFileError::ByteOrder);

    let mut b = good.clone();
    b[16] = 4;
    assert_eq!(
        open(&b),
        EngineFileError::WordSize {
            found: 4,
            expected: std::mem::size_of::<usize>() as u8
        }
    );

    let mut b = good.clone();
    b.push(0);
    assert!(matches!(open(&b), EngineFileError::Length { .. }));

    let mut b = good.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    assert_eq!(open(&b), EngineFileError::Checksum);
    assert!(open(&b).to_string().contains("checksum"));
}

#[test]
fn every_truncation_is_refused() {
    let good = Engine::compile(EVERYTHING).unwrap().to_bytes();
    for len in 0..good.len() {
        let err = Engine::from_bytes(&good[..len]).map(|_| ()).unwrap_err();
        if len >= 8 {
            assert!(
                matches!(err, EngineFileError::Length { .. }),
                "{len}: {err}"
            );
        }
    }
}

#[test]
fn an_index_out_of_range_is_refused_with_a_valid_checksum() {
    let e = Engine::compile(EVERYTHING).unwrap();
    let good = e.to_bytes();
    // The section table: ten (offset, length) pairs from byte 40.
    let section = |i: usize| {
        let at = 40 + i * 16;
        let off = u64::from_ne_bytes(good[at..at + 8].try_into().unwrap()) as usize;
        let len = u64::from_ne_bytes(good[at + 8..at + 16].try_into().unwrap()) as usize;
        (off, len)
    };
    // A section pointing past the end.
    let mut b = good.clone();
    b[40 + 16..40 + 24].copy_from_slice(&(u64::MAX - 3).to_ne_bytes());
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("outside")),
        "{err}"
    );

    // A rule whose extras index is out of range (the extras column: one u32 per rule).
    let (aux, n) = section(4);
    assert!(n >= 4);
    let mut b = good.clone();
    for r in (aux..aux + n).step_by(4) {
        b[r..r + 4].copy_from_slice(&0x00ff_fff0u32.to_ne_bytes());
    }
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("extras")),
        "{err}"
    );

    // A table node naming a rule past the last (nodes are 24 bytes: low, parent,
    // rule_or_list, info, high; a filled node with one rule has bits 29..31 of info clear
    // except the parent flag).
    let (nodes, n) = section(6);
    let mut b = good.clone();
    let mut changed = 0;
    for at in (nodes..nodes + n).step_by(24) {
        let info = u32::from_ne_bytes(b[at + 16..at + 20].try_into().unwrap());
        if info & (3 << 30) == 0 && info & 0x3f != 0 {
            b[at + 12..at + 16].copy_from_slice(&1_000_000u32.to_ne_bytes());
            changed += 1;
        }
    }
    assert!(changed > 0);
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("table node")),
        "{err}"
    );

    // A pattern reference past the table.
    let (refs, _) = section(9);
    let mut b = good.clone();
    b[refs..refs + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("pattern")),
        "{err}"
    );
}

/// Every single-bit change anywhere in a file, resealed so that it passes the checksum:
/// opening gives an error or an engine, and every lookup and explanation on that engine
/// returns (no panic, no endless loop).
#[test]
fn every_resealed_bit_flip_opens_safely_or_fails() {
    let good = Engine::compile(EVERYTHING).unwrap().to_bytes();
    let qs = queries();
    let (mut opened, mut refused) = (0, 0);
    for at in 40..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[at] ^= 1 << bit;
            reseal(&mut b);
            let Ok(e) = Engine::from_bytes(&b) else {
                refused += 1;
                continue;
            };
            opened += 1;
            for (p, _) in e.policies() {
                for &(n, port, via) in qs.iter().step_by(3) {
                    let q = Query {
                        port,
                        via,
                        ..Query::new(n)
                    };
                    let v = e.check(p, &q);
                    if let Some(r) = v.rule {
                        let _ = (r.id().to_string(), r.line(), r.index());
                    }
                    let _ = e.explain(p, &q);
                }
                for i in 0..e.rule_count(p) {
                    let _ = e.rule(p, i);
                }
            }
        }
    }
    assert!(
        opened > 0 && refused > 0,
        "{opened} opened, {refused} refused"
    );
}

/// Random policies: a small alphabet of labels so that rules share keys and queries hit them.
fn arb_pattern() -> impl Strategy<Value = String> {
    let label = prop::sample::select(vec!["a", "b", "kadath", "leng", "io", "com"]);
    let name = prop::collection::vec(label, 1..4).prop_map(|l| l.join("."));
    (0..9u8, name).prop_map(|(kind, n)| match kind {
        0 | 1 => n,
        2 => format!("*.{n}"),
        3 => format!("**.{n}"),
        4 => format!(".{n}"),
        5 => format!("x*.{n}"),
        6 => "*".to_string(),
        7 => format!("~^{}$", n.replace('.', "\\.")),
        _ => "192.0.2.0/28".to_string(),
    })
}

fn arb_rule() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        arb_pattern(),
        prop::option::of(prop::sample::select(vec!["443", "80-90", "22,443"])),
        prop::option::of(prop::sample::select(vec!["tls", "http,dns", "connect"])),
    )
        .prop_map(|(deny, p, port, via)| {
            let mut r = format!("{} {p}", if deny { "deny" } else { "allow" });
            if let Some(port) = port {
                r += &format!(" port {port}");
            }
            if let Some(via) = via {
                r += &format!(" via {via}");
            }
            r
        })
}

fn arb_policy() -> impl Strategy<Value = String> {
    let one = (
        prop::sample::select(vec!["first-match", "most-specific", "deny-overrides"]),
        any::<bool>(),
        prop::collection::vec(arb_rule(), 0..12),
    );
    prop::collection::vec(one, 1..4).prop_map(|ps| {
        let mut t = String::new();
        for (i, (prec, allow, rules)) in ps.into_iter().enumerate() {
            t += &format!("policy p{i}\nprecedence {prec}\n");
            if allow {
                t += "default allow\n";
            }
            for r in rules {
                t += &r;
                t += "\n";
            }
        }
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_policies_answer_the_same(text in arb_policy()) {
        let e = Engine::compile(&text).unwrap();
        let names = [
            "a", "kadath.io", "a.kadath.io", "b.a.kadath.io", "xa.leng.com", "leng.com",
            "a.b.com", "io", "192.0.2.5", "xkadath.io",
        ];
        for o in reopen(&e) {
            prop_assert_eq!(shape(&o), shape(&e));
            for (p, _) in e.policies() {
                for n in names {
                    for (port, via) in [(None, None), (Some(443), Some(Via::Tls)), (Some(85), Some(Via::Dns))] {
                        let q = Query { port, via, ..Query::new(n) };
                        prop_assert_eq!(answer(&o, p, &q), answer(&e, p, &q));
                    }
                }
            }
        }
    }
}

/// Bytes one past an aligned start: every section is then misaligned for its items.
struct Shifted(Vec<u8>);

impl AsRef<[u8]> for Shifted {
    fn as_ref(&self) -> &[u8] {
        &self.0[1..]
    }
}

#[test]
fn misaligned_shared_bytes_are_copied_not_refused() {
    let e = Engine::compile(EVERYTHING).unwrap();
    let mut v = vec![0u8];
    v.extend_from_slice(&e.to_bytes());
    let shared: SharedBytes = Arc::new(Shifted(v));
    let o = Engine::from_shared(&shared).unwrap();
    assert!(!o.is_shared(), "copied, since the casts need alignment");
    assert_eq!(shape(&o), shape(&e));
    let p = o.policy("web").unwrap();
    let q = Query::new("api.kadath.io").port(443).via(Via::Tls);
    assert_eq!(answer(&o, p, &q), answer(&e, p, &q));
}

/// A file large enough to be checksummed on two threads (a long source name in its info block
/// puts the sections in the second half): the same checksum as the one-thread definition, the
/// same answers, and a fault in either half found.
#[test]
fn a_large_file_is_checked_the_same_on_two_threads() {
    let e = Engine::compile(EVERYTHING).unwrap();
    let name = "n".repeat(9 << 20);
    let good = e.to_bytes_with_source(&name, EVERYTHING.as_bytes());
    assert!(good.len() > 9 << 20);
    assert_eq!(
        u64::from_ne_bytes(good[32..40].try_into().unwrap()),
        checksum(&good)
    );
    let opened = Engine::from_bytes(&good).unwrap();
    let shared: SharedBytes = Arc::new(good.clone());
    let mapped = Engine::from_shared(&shared).unwrap();
    for (p, _) in e.policies() {
        for &(n, port, via) in &queries() {
            let q = Query {
                port,
                via,
                ..Query::new(n)
            };
            assert_eq!(answer(&opened, p, &q), answer(&e, p, &q), "{n}");
            assert_eq!(answer(&mapped, p, &q), answer(&e, p, &q), "{n}");
        }
    }
    // A changed byte in the first half, then in the last block.
    for at in [1 << 20, good.len() - 1] {
        let mut b = good.clone();
        b[at] ^= 0x10;
        assert_eq!(
            Engine::from_bytes(&b).map(|_| ()).unwrap_err(),
            EngineFileError::Checksum,
            "byte {at}"
        );
    }
    // A table node naming a rule past the last, in the half the second thread scans.
    let at = FIXED_SECTIONS + 6 * 16;
    let nodes = u64::from_ne_bytes(good[at..at + 8].try_into().unwrap()) as usize;
    let n = u64::from_ne_bytes(good[at + 8..at + 16].try_into().unwrap()) as usize;
    assert!(nodes > good.len() / 2);
    let mut b = good.clone();
    for at in (nodes..nodes + n).step_by(24) {
        let info = u32::from_ne_bytes(b[at + 16..at + 20].try_into().unwrap());
        if info & (3 << 30) == 0 && info & 0x3f != 0 {
            b[at + 12..at + 16].copy_from_slice(&1_000_000u32.to_ne_bytes());
        }
    }
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("table node")),
        "{err}"
    );
}

/// Where the section table starts: after the fixed 40 bytes.
const FIXED_SECTIONS: usize = 40;

/// The table's last-label flag (a one-label key such as `io` files a rule) is kept in the
/// metadata section: the opened engine probes the last label as the compiled one does; a flag
/// byte other than 0 or 1 is refused.
#[test]
fn the_last_label_flag_is_kept_and_checked() {
    let e = Engine::compile("deny io\nallow *.io\n").unwrap();
    let good = e.to_bytes();
    for o in reopen(&e) {
        let p = o.default_policy();
        assert!(!o.check(p, &Query::new("io")).is_allow());
        assert!(o.check(p, &Query::new("kadath.io")).is_allow());
    }
    // META starts at section 0's offset: home groups (u64), longest key (u32), the flag (u8).
    let meta = u64::from_ne_bytes(good[40..48].try_into().unwrap()) as usize;
    assert_eq!(good[meta + 12], 1);
    let mut b = good.clone();
    b[meta + 12] = 2;
    reseal(&mut b);
    let err = Engine::from_bytes(&b).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, EngineFileError::Corrupt(ref m) if m.contains("last-label")),
        "{err}"
    );
    let plain = Engine::compile("allow .kadath.io\n").unwrap().to_bytes();
    let meta = u64::from_ne_bytes(plain[40..48].try_into().unwrap()) as usize;
    assert_eq!(plain[meta + 12], 0);
}

/// A glob rule's node keeps its own copy of the rule's shape. A file whose rule column says
/// the rule is no glob (and has no extras), while the node still says glob, passes every check
/// on open (the node's copy is checked for a head only when some rule is a glob): the node then
/// matches nothing, and lookups through it answer without a panic.
#[test]
fn a_node_that_says_glob_for_a_rule_that_is_not_one_matches_nothing() {
    let e = Engine::compile("allow api-*.celephais.io\nallow kadath.io port 443\n").unwrap();
    let mut b = e.to_bytes();
    let section = |b: &[u8], i: usize| {
        let at = 40 + i * 16;
        u64::from_ne_bytes(b[at..at + 8].try_into().unwrap()) as usize
    };
    // Rule 0's shape and flags (the rules column, a u16 per rule: shape in bits 8..11) made
    // an exact name's, and its extras index (a u32 per rule) made none.
    let rules = section(&b, 1);
    let meta = u16::from_ne_bytes(b[rules..rules + 2].try_into().unwrap());
    assert_eq!((meta >> 8) & 7, 4, "rule 0 is the glob");
    b[rules..rules + 2].copy_from_slice(&(meta & !(7 << 8)).to_ne_bytes());
    let aux = section(&b, 4);
    b[aux..aux + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    reseal(&mut b);
    let opened = Engine::from_bytes(&b).expect("a well-formed file");
    let p = opened.default_policy();
    let glob = opened.check(p, &Query::new("api-eu.celephais.io"));
    assert!(!glob.is_allow() && glob.rule.is_none(), "{glob:?}");
    let plain = Query {
        port: Some(443),
        ..Query::new("kadath.io")
    };
    assert!(opened.check(p, &plain).is_allow());
}
