//! `--from aws-nfw`, `--from route53` and `--from swp` with Terraform inputs (`.tf` files,
//! plan JSON) through the real binary: `import` prints the policy, `check` decides as the API
//! form of the same resources does.

mod common;
use common::*;

const DATA: &str = "crates/hostgate-import/tests/data/terraform";

/// `check`'s verdict word, from a run that succeeded.
fn verdict(r: &Run) -> &str {
    assert_eq!(r.code, 0, "{}", r.stderr);
    first_word(r)
}

#[test]
fn import_and_check_network_firewall_terraform() {
    let tf = format!("{DATA}/nfw.tf");
    let r = hostgate(&["import", "--from", "aws-nfw", &tf]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "# {tf}:53 RuleGroup/deny\ndeny bad.example.com via tls id RuleGroup/deny:0\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "{tf}:3:1: warning: resource type `aws_vpc` is not read"
        )),
        "{}",
        r.stderr
    );
    let api = format!("{DATA}/nfw.json");
    let plan = format!("{DATA}/nfw-plan.json");
    for (name, port, via, want) in [
        ("bad.example.com", "443", "tls", "deny"),
        ("a.example.com", "443", "tls", "allow"),
        ("www.example.org", "80", "http", "allow"),
        ("other.net", "443", "tls", "deny"),
    ] {
        for file in [&tf, &api, &plan] {
            let r = hostgate(&[
                "check", "--from", "aws-nfw", "--policy", file, "--port", port, "--via", via, name,
            ]);
            assert_eq!(verdict(&r), want, "{file} {name} {via}: {}", r.stdout);
        }
    }
}

#[test]
fn route53_terraform_across_files_and_refusals() {
    let text = std::fs::read_to_string(repo_root().join(DATA).join("route53.tf")).unwrap();
    let cut = text
        .find("resource \"aws_route53_resolver_firewall_rule_group\"")
        .unwrap();
    let lists = temp("lists.tf", &text[..cut]);
    let rules = temp("rules.tf", &text[cut..]);
    let r = hostgate(&["import", "--from", "route53", &lists, &rules]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Rules named by their group, lines in the list file where the domain is.
    assert!(
        r.stdout.contains(&format!(
            "# {lists}:10 FirewallRuleGroup/allow_corp\nallow **.watch.example via dns id FirewallRuleGroup/allow_corp:2\n"
        )),
        "{}",
        r.stdout
    );
    let plan = format!("{DATA}/route53-plan.json");
    for (name, want) in [("a.corp.example", "allow"), ("watch.example", "deny")] {
        let r = hostgate(&[
            "check", "--from", "route53", "--policy", &plan, "--via", "dns", name,
        ]);
        assert_eq!(verdict(&r), want, "{name}: {}", r.stdout);
    }
    // A variable is refused at its position, with what to give instead.
    let bad = temp(
        "bad.tf",
        "resource \"aws_route53_resolver_firewall_domain_list\" \"l\" {\n  domains = var.domains\n}\n",
    );
    let r = hostgate(&["import", "--from", "route53", &bad]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "{bad}:2:13: `var.domains` is a variable, which is not evaluated here"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("terraform show -json plan.out"),
        "{}",
        r.stderr
    );
}

#[test]
fn import_and_check_secure_web_proxy_terraform() {
    let tf = format!("{DATA}/swp.tf");
    let r = hostgate(&["import", "--from", "swp", &tf]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The rule interpolating the URL list's id reads that list: its rules point at the
    // list's values in the .tf file.
    assert!(
        r.stdout.contains(&format!(
            "# {tf}:15 GatewaySecurityPolicyRule/corp\nallow .corp.example via tls,http,connect id GatewaySecurityPolicyRule/corp:1\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains(&format!("{tf}:107:7: warning: a test on the request")),
        "{}",
        r.stderr
    );
    let api = "crates/hostgate-import/tests/data/swp/policy.yaml";
    let plan = format!("{DATA}/swp-plan.json");
    for (name, port, via, want) in [
        ("bad.corp.example", "443", "tls", "deny"),
        ("a.corp.example", "443", "connect", "allow"),
        ("github.com", "80", "http", "allow"),
        ("storage.googleapis.com", "80", "http", "deny"),
        ("other.example", "443", "tls", "deny"),
    ] {
        for file in [tf.as_str(), api, &plan] {
            let r = hostgate(&[
                "check", "--from", "swp", "--policy", file, "--port", port, "--via", via, name,
            ]);
            assert_eq!(verdict(&r), want, "{file} {name} {via}: {}", r.stdout);
        }
    }
    // A variable in a matcher is refused at its position in the string.
    let bad = temp(
        "bad.tf",
        "resource \"google_network_security_gateway_security_policy\" \"p\" {\n  name = \"p\"\n  location = \"l\"\n}\nresource \"google_network_security_gateway_security_policy_rule\" \"r\" {\n  name = \"r\"\n  location = \"l\"\n  gateway_security_policy = google_network_security_gateway_security_policy.p.name\n  enabled = true\n  priority = 1\n  basic_profile = \"ALLOW\"\n  session_matcher = \"host() == '${var.host}'\"\n}\n",
    );
    let r = hostgate(&["import", "--from", "swp", &bad]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "{bad}:12:35: `var.host` is a variable, which is not evaluated here"
        )),
        "{}",
        r.stderr
    );
}
