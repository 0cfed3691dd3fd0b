//! GKE `FQDNNetworkPolicy` (`networking.gke.io/v1alpha1`), egress.
//!
//! Only the documented forms are read: `name` (exact) and `pattern` `*.x` (one label). Forms
//! whose meaning Google does not document (other wildcards, upper case, a trailing dot) are
//! refused rather than guessed.

use hostgate::{Action, RuleSpec, Via};

use crate::kube::{checked, finish, port_number, selects, Cx, Emitted, Object};
use crate::yaml::Node;
use crate::{Options, RuleSource, Workload};

const CONNECTION: &[Via] = &[Via::Tls, Via::Http, Via::Connect];

pub(crate) fn check_kind(api: &str, kind: &str) -> Result<(), String> {
    if kind != "FQDNNetworkPolicy" {
        return Err(format!(
            "kind `{kind}` is not a GKE FQDN policy; expected FQDNNetworkPolicy"
        ));
    }
    if api != "networking.gke.io/v1alpha1" {
        return Err(format!(
            "apiVersion `{api}`: FQDNNetworkPolicy is read as `networking.gke.io/v1alpha1`"
        ));
    }
    Ok(())
}

/// The format's reader: every object into one policy, deny by default once one selects.
pub(crate) fn import(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    options: &Options,
) -> crate::Read {
    let (rules, sources, selected) = read(cx, files, objects, options.workload.as_ref());
    let mut out = crate::Read::new(if selected == 0 {
        Action::Allow
    } else {
        Action::Deny
    });
    out.rules = rules;
    out.sources = sources;
    out.applies = selected > 0;
    out
}

fn read(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    workload: Option<&Workload>,
) -> (Vec<RuleSpec>, Vec<RuleSource>, usize) {
    let (mut rules, mut sources) = (Vec::new(), Vec::new());
    let mut selected = 0;
    for object in objects {
        cx.file = files[object.file_index].0.to_string();
        let Some(top) = cx.fields(
            &object.root,
            "FQDNNetworkPolicy",
            &["apiVersion", "kind", "metadata", "spec", "status"],
        ) else {
            continue;
        };
        let Some(spec) = top.get("spec") else {
            cx.err(&object.root, format!("{} without `spec`", object.label()));
            continue;
        };
        let Some(s) = cx.fields(spec, "spec", &["podSelector", "egress"]) else {
            continue;
        };
        if let Some(w) = workload {
            if object.namespace.as_deref().unwrap_or("default") != w.namespace {
                continue;
            }
            let Some(sel) = s.get("podSelector") else {
                cx.err(spec, "a policy without podSelector");
                continue;
            };
            if selects(cx, sel, &w.labels, &|k| Some(k.to_string())) != Some(true) {
                continue;
            }
        }
        selected += 1;
        let mut emitted = Vec::new();
        if let (Some(_), Some(k)) = (s.get("egress"), s.key("egress")) {
            cx.warn(
                k,
                "GKE does not filter DNS questions by name: DNS questions (via dns) are not \
                 reproduced, the default denies them",
            );
        }
        if let Some(egress) = s.get("egress") {
            for item in cx.list(egress, "egress").unwrap_or(&[]) {
                read_egress(cx, item, &mut emitted);
            }
        }
        let file = cx.file.clone();
        finish(object, &file, emitted, &mut rules, &mut sources);
    }
    (rules, sources, selected)
}

fn read_egress(cx: &mut Cx, item: &Node, out: &mut Vec<Emitted>) {
    let Some(f) = cx.fields(item, "an egress rule", &["matches", "ports"]) else {
        return;
    };
    let mut ranges = Vec::new();
    let mut udp = false;
    if let Some(ports) = f.get("ports") {
        for p in cx.list(ports, "ports").unwrap_or(&[]) {
            let Some(pf) = cx.fields(p, "a port", &["protocol", "port"]) else {
                return;
            };
            let protocol = match pf.get("protocol") {
                Some(n) => match cx.str(n, "protocol") {
                    Some(s) => s.to_string(),
                    None => return,
                },
                None => "TCP".to_string(),
            };
            match protocol.as_str() {
                "TCP" => {}
                "UDP" => udp = true,
                "SCTP" => {
                    cx.warn(
                        p,
                        "SCTP is not a name-based protocol: this port is not reproduced",
                    );
                    continue;
                }
                other => {
                    cx.err(p, format!("protocol `{other}`; expected TCP, UDP or SCTP"));
                    return;
                }
            }
            let Some(pn) = pf.get("port") else {
                cx.err(
                    p,
                    "a port entry without `port` (its meaning is not documented)",
                );
                return;
            };
            let Some(text) = cx.str(pn, "port") else {
                return;
            };
            let Some(n) = port_number(text) else {
                cx.err(pn, format!("port `{text}` is not a number in 1-65535"));
                return;
            };
            ranges.push((n, n));
        }
        if udp {
            cx.warn(
                ports,
                "UDP ports: only QUIC (via tls) is reproduced, other UDP traffic is not",
            );
        }
    }
    let Some(matches) = f.get("matches") else {
        cx.err(item, "an egress rule without `matches`");
        return;
    };
    for m in cx.list(matches, "matches").unwrap_or(&[]) {
        let Some(mf) = cx.fields(m, "a match", &["name", "pattern"]) else {
            continue;
        };
        let pattern = match (mf.get("name"), mf.get("pattern")) {
            (Some(n), None) => cx.str(n, "name").and_then(|t| name(cx, n, t, false)),
            (None, Some(n)) => cx.str(n, "pattern").and_then(|t| name(cx, n, t, true)),
            _ => {
                cx.err(m, "a match needs exactly one of `name` and `pattern`");
                None
            }
        };
        let Some(pattern) = pattern else { continue };
        let node = mf.get("name").or(mf.get("pattern")).unwrap_or(m).clone();
        let mut r = RuleSpec::new(Action::Allow, pattern.clone());
        r.ports = ranges.clone();
        r.via = CONNECTION.to_vec();
        out.push(Emitted {
            rule: r,
            node: node.clone(),
        });
        if udp {
            let mut q = RuleSpec::new(Action::Allow, pattern);
            q.ports = ranges.clone();
            q.via = vec![Via::Tls];
            out.push(Emitted { rule: q, node });
        }
    }
}

/// `name: a.b` (exact) or `pattern: *.a.b` (exactly one label): lower-case DNS names without
/// a trailing dot, the only forms documented.
fn name(cx: &mut Cx, node: &Node, text: &str, pattern: bool) -> Option<String> {
    let body = if pattern {
        match text.strip_prefix("*.") {
            Some(rest) => rest,
            None => {
                cx.err(
                    node,
                    format!("pattern `{text}`: only `*.DOMAIN` is documented for GKE"),
                );
                return None;
            }
        }
    } else {
        text
    };
    let ok = !body.is_empty()
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    if !ok {
        cx.err(
            node,
            format!(
                "`{text}` is not a lower-case DNS name{}: GKE's meaning for it is not documented",
                if pattern { " after `*.`" } else { "" }
            ),
        );
        return None;
    }
    checked(cx, node, text.to_string())
}
