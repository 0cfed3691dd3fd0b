//! The importer against an independent matcher written from Cilium's documented matchPattern
//! rule, on names generated near each pattern; and arbitrary input never panics.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, CiliumVersion, Options};
use proptest::prelude::*;

/// Cilium's documented rule, character by character: both sides lowercased and fully
/// qualified; a pattern of only stars matches every name; from 1.19 a leading `**.` is one
/// or more whole labels; any other run of `*` is 0 or more of `[-a-z0-9_]` (never a dot).
fn naive(pattern: &str, name: &str, version: CiliumVersion) -> bool {
    let fq = |s: &str| {
        let s = s.to_ascii_lowercase();
        if s.ends_with('.') {
            s
        } else {
            s + "."
        }
    };
    let (p, n) = (fq(pattern), fq(name));
    if p.trim_end_matches('.').chars().all(|c| c == '*') {
        return true;
    }
    if version >= CiliumVersion::new(1, 19) {
        if let Some(rest) = p.strip_prefix("**.") {
            // Try every split after one or more whole labels of the name.
            return n
                .char_indices()
                .filter(|&(i, c)| c == '.' && i > 0 && i + 1 < n.len())
                .any(|(i, _)| glob(rest.as_bytes(), &n.as_bytes()[i + 1..]));
        }
    }
    glob(p.as_bytes(), n.as_bytes())
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(b'*') => {
            glob(&p[1..], n)
                || n.first().is_some_and(|&c| {
                    (c.is_ascii_alphanumeric() || c == b'-' || c == b'_') && glob(p, &n[1..])
                })
        }
        Some(&c) => n.first() == Some(&c) && glob(&p[1..], &n[1..]),
    }
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x".to_string()),
        Just("io".to_string()),
        Just("sub".to_string()),
        Just("*".to_string()),
        Just("sub*".to_string()),
        Just("*x".to_string()),
        Just("a-*-b".to_string()),
        Just("**".to_string()),
        Just("Cil".to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), any::<bool>()).prop_map(|(mut labels, dot)| {
        labels.push("io".into());
        let mut p = labels.join(".");
        if dot {
            p.push('.');
        }
        p
    })
}

/// A name near `pattern`: its stars filled in, then labels added in front, the first label
/// dropped, a character changed, upper case or a trailing dot.
fn near(pattern: &str, fills: &[String], edit: u8, extra: &str) -> String {
    let mut fill = fills.iter().cycle();
    let mut name = String::new();
    let body = pattern.trim_end_matches('.');
    for c in body.chars() {
        if c == '*' {
            name.push_str(fill.next().map_or("", |s| s.as_str()));
        } else {
            name.push(c);
        }
    }
    match edit % 7 {
        0 => name,
        1 => format!("{extra}.{name}"),
        2 => format!("{extra}.q.{name}"),
        3 => name
            .split_once('.')
            .map_or(name.clone(), |(_, r)| r.to_string()),
        4 => name.replacen('x', "y", 1),
        5 => name.to_ascii_uppercase(),
        _ => format!("{name}."),
    }
}

fn cnp(pattern: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: p}}\nspec:\n  egress:\n  \
         - toFQDNs: [{{matchPattern: '{pattern}'}}]\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn import_matches_the_documented_rule(
        p in pattern(),
        fills in prop::collection::vec(prop_oneof![Just(String::new()), Just("a".to_string()), Just("b-c".to_string()), Just("x.y".to_string())], 1..4),
        edit in any::<u8>(),
        extra in prop_oneof![Just("w"), Just("sub"), Just("x")],
        old in any::<bool>(),
    ) {
        let name = near(&p, &fills, edit, extra);
        // Only valid names: an invalid one is denied by hostgate before any rule.
        prop_assume!(hostgate::normalize(&name).is_ok());
        let version = if old { CiliumVersion::new(1, 18) } else { CiliumVersion::new(1, 19) };
        let yaml = cnp(&p);
        let i = import(Format::Cilium, &[("p.yaml", yaml.as_bytes())], &Options::default().cilium_version(version))
            .map_err(|e| TestCaseError::fail(format!("{p}: {e:?}")))?;
        let e = i.engine();
        let got = e.check(e.policy("default").unwrap(), &Query::new(&name).port(443).via(Via::Tls)).action;
        let want = if naive(&p, &name, version) { Action::Allow } else { Action::Deny };
        prop_assert_eq!(got, want, "pattern {} name {} (Cilium {})", p, name, version);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = import(Format::Cilium, &[("f", &bytes)], &Options::default());
        let _ = import(Format::Gke, &[("f", &bytes)], &Options::default());
    }

    #[test]
    fn mangled_policies_never_panic(cut in 0usize..2000, insert in "[\\[\\]{}:,'\"*&!|>\\- \\n]{0,4}") {
        let base = include_str!("data/cilium/examples-policies-l7-dns-dns.yaml");
        let cut = cut.min(base.len());
        let cut = (0..=cut).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        if let Err(errors) = import(Format::Cilium, &[("f", text.as_bytes())], &Options::default()) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.line >= 1 && e.column >= 1, "{}", e);
            }
        }
    }
}
