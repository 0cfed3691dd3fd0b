//! `--from swp` (Google Cloud Secure Web Proxy) through the real binary.

mod common;
use common::*;

const POLICY: &str = "name: projects/p/locations/l/gatewaySecurityPolicies/g
---
name: projects/p/locations/l/urlLists/corp
values: ['*corp.example', github.com/example-org/*]
---
name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/corp
enabled: true
priority: 20
basicProfile: ALLOW
sessionMatcher: inUrlList(host(), 'projects/p/locations/l/urlLists/corp')
---
name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/no-bad
enabled: true
priority: 10
basicProfile: DENY
sessionMatcher: host() == 'bad.corp.example' || host().endsWith('.bad.corp.example')
---
name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/api
enabled: true
priority: 30
basicProfile: ALLOW
sessionMatcher: host().endsWith('.googleapis.com') && destination.port == 443
";

#[test]
fn import_swp_prints_a_policy_that_check_agrees_with() {
    let file = temp("swp.yaml", POLICY);
    let r = hostgate(&["import", "--from", "swp", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("precedence first-match\ndefault deny\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {file}:16 GatewaySecurityPolicyRule/no-bad\ndeny bad.corp.example via tls,http,connect id GatewaySecurityPolicyRule/no-bad:0\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "allow **.googleapis.com port 443 via tls,http,connect id GatewaySecurityPolicyRule/api:0\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "{file}:4:27: warning: `github.com/example-org/*` has a path"
        )),
        "{}",
        r.stderr
    );
    let out = temp("swp.policy", &r.stdout);
    check_agrees(
        "swp",
        &file,
        &out,
        &[
            ("corp.example", "443", "tls", "allow"),
            ("a.b.corp.example", "80", "http", "allow"),
            ("x.bad.corp.example", "443", "connect", "deny"),
            ("mycorp.example", "443", "tls", "deny"),
            ("github.com", "443", "tls", "allow"),
            ("storage.googleapis.com", "443", "tls", "allow"),
            ("storage.googleapis.com", "80", "http", "deny"),
            ("other.example", "443", "tls", "deny"),
        ],
    );
    let bad = temp(
        "bad.yaml",
        "name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/r\nenabled: true\nbasicProfile: ALLOW\nsessionMatcher: host() == 'a.io' && source.ip == '10.0.0.1'\n",
    );
    let r = hostgate(&["import", "--from", "swp", &bad]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with(&format!("{bad}:4:37: sessionMatcher: a test on the client")),
        "{}",
        r.stderr
    );
}
