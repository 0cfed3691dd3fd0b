//! The policy compiler: [`PolicySpec`]s (from the text parser, `crate::policy_text`, or the
//! builder, `crate::builder`) in, one [`Engine`] out.
//!
//! [`Engine::from_specs`] checks and parses every rule's pattern (on two threads for large
//! policies), `Build::policy` ranks and encodes each policy's rules (see
//! `crate::engine::Rules`), and `Build::finish` files the keyed rules into the matcher
//! (`crate::matcher`), the CIDRs into their table and the regexes into one set ([`regex`]).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::builder::{PolicySpec, RuleSpec};
use crate::engine::{
    pack_meta, policy_index, Aux, Engine, GlobHead, IpTable, PolicyMeta, Rules, Shape, ALL_VIA,
    DENY, HAS_PORTS, HAS_VIA, NO_AUX, RECEIVED,
};
use crate::error::{CompileErrors, Diagnostic, Severity};
use crate::matcher::{Sizing, SuffixHashes, SuffixTable};
use crate::pages::Store;
use crate::pattern::{max_prefix, Pattern, PatternError};
use crate::policy_text;
use crate::verdict::{Action, Precedence};

pub(crate) mod regex;

use regex::check_regex;

/// The most rules one engine holds (exclusive).
pub(crate) const MAX_RULES: usize = 1 << 24;
/// Stop reporting after this many errors: a binary file passed as a policy should not print
/// a million lines.
const MAX_ERRORS: usize = 1000;

impl Engine {
    /// Compiles parsed or built policies; `errors` are the parser's, reported with the
    /// compiler's own.
    pub(crate) fn from_specs(
        specs: Vec<PolicySpec>,
        mut errors: Vec<Diagnostic>,
    ) -> Result<Engine, CompileErrors> {
        // Rules and table slots are indexed by u32; past 16M rules an engine would take gigabytes:
        // refuse absurd sizes up front.
        let total: usize = specs.iter().map(|p| p.rules.len()).sum();
        if total >= MAX_RULES {
            errors.push(Diagnostic::error(
                0,
                0,
                format!("{total} rules: at most {} are supported", MAX_RULES - 1),
            ));
            return Err(CompileErrors { errors });
        }
        let mut b = Build::default();
        // Sized once: growing these by doubling copied and page-faulted them over and over.
        b.rules.reserve_exact(total);
        b.keyed.reserve_exact(total);
        b.pattern_ref.reserve_exact(total);
        let mut seen_names: HashMap<&str, usize> = HashMap::new();
        // A large rule set is compiled on two threads where there are two cores.
        let parallel = total >= PARALLEL_PARSE_MIN && policy_text::two_cores();
        let (patterns, hashes) = parse_patterns(&specs, parallel);
        let mut patterns = patterns.into_iter();
        // Every policy's rules, compiled in order.
        let mut compile_all = |errors: &mut Vec<Diagnostic>| {
            for (pi, spec) in specs.iter().enumerate() {
                if let Some(first) = seen_names.insert(&spec.name, pi) {
                    // Text input reports this in the parser; the builder needs it here.
                    if spec.line == 0 {
                        errors.push(Diagnostic::error(
                            0,
                            0,
                            format!(
                                "policy `{}` is defined twice (policies {first} and {pi})",
                                spec.name
                            ),
                        ));
                    }
                }
                b.policy(pi as u32, spec, &mut patterns, errors);
            }
        };
        // The matcher's table is sized from the keys' distinct suffixes: for a large rule set
        // counted on another thread while the rules are compiled, if it can be started. (A
        // scope only then: entering one sets up the calling thread's handle, which a C caller's
        // leak checker sees as an allocation kept for the thread's life.)
        let sizing = if parallel {
            std::thread::scope(|scope| {
                let counter = std::thread::Builder::new()
                    .spawn_scoped(scope, move || hashes.sizing())
                    .ok();
                compile_all(&mut errors);
                counter.and_then(|h| h.join().ok())
            })
        } else {
            compile_all(&mut errors);
            Some(hashes.sizing())
        };
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.line, e.column));
            errors.dedup();
            if errors.len() > MAX_ERRORS {
                let n = errors.len() - MAX_ERRORS;
                errors.truncate(MAX_ERRORS);
                errors.push(Diagnostic::error(
                    0,
                    0,
                    format!("{n} more errors not shown"),
                ));
            }
            return Err(CompileErrors { errors });
        }
        drop(seen_names);
        if !parallel {
            return b.finish(sizing);
        }
        // A large rule set's specs (a few strings per rule) are freed on another thread while
        // the table is built; if it cannot start, they are freed here when the closure is.
        std::thread::scope(|scope| {
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || drop(specs));
            b.finish(sizing)
        })
    }
}

/// Compiler state: rules are appended policy by policy, so each policy's rules are contiguous.
#[derive(Default)]
struct Build {
    policies: Vec<PolicyMeta>,
    by_name: HashMap<String, u32>,
    rules: Vec<Built>,
    aux: Vec<Aux>,
    /// (key, rule) for every keyed pattern.
    keyed: Vec<(String, u32)>,
    /// Per rule: index into `keyed`, the regex source or the CIDR list (see `Engine::pattern_ref`).
    pattern_ref: Vec<u32>,
    globs: Vec<GlobHead>,
    ips: IpTable,
    cidrs: Vec<(IpAddr, u8)>,
    /// Distinct regex sources → pattern index, and their rules.
    regex_ids: HashMap<String, usize>,
    regex_sources: Vec<String>,
    regex_rules: Vec<Vec<u32>>,
    ports: Vec<(u16, u16)>,
    ids: String,
    named_ids: Vec<(u32, u32, u32)>,
    warnings: Vec<Diagnostic>,
}

/// A rule as the compiler builds it, before [`columns`] splits the rules into the engine's
/// columns.
struct Built {
    rank: u32,
    line: u32,
    aux: u32,
    shape: Shape,
    flags: u8,
}

/// The engine's rule columns (see [`Rules`]): ranks kept only when some policy is
/// most-specific, extras indices only when some rule has extras.
fn columns(built: &[Built], policies: &[PolicyMeta]) -> Rules {
    let column = |f: &dyn Fn(&Built) -> u32| {
        let mut s = Store::from(built.iter().map(f).collect::<Vec<u32>>());
        s.freeze();
        s
    };
    let mut meta = Store::from(
        built
            .iter()
            .map(|r| pack_meta(r.shape, r.flags))
            .collect::<Vec<u16>>(),
    );
    meta.freeze();
    let most_specific = policies
        .iter()
        .any(|p| p.precedence == Precedence::MostSpecific);
    let extras = built.iter().any(|r| r.aux != NO_AUX);
    Rules {
        meta,
        line: column(&|r| r.line),
        rank: if most_specific {
            column(&|r| r.rank)
        } else {
            Store::default()
        },
        aux: if extras {
            column(&|r| r.aux)
        } else {
            Store::default()
        },
    }
}

/// Ranking class for `most-specific`; smaller first.
fn specificity(p: &Pattern) -> (u8, usize) {
    match p {
        Pattern::Exact(_) => (0, 0),
        Pattern::Cidr(ip, len) if *len == max_prefix(*ip) => (0, 0),
        Pattern::Cidr(_, len) => (1, usize::MAX - usize::from(*len)),
        Pattern::OneLabel(_) | Pattern::Deep(_) | Pattern::Dot(_) | Pattern::Glob { .. } => {
            (1, usize::MAX - p.literal_chars())
        }
        Pattern::Regex(_) => (2, 0),
        Pattern::Any => (3, 0),
    }
}

/// `policy NAME, rule N: ` before the messages about a built rule (it has no line to point
/// at); nothing for a rule from text. Written only with a message, so that a large built
/// policy does not pay an allocation per rule.
struct RulePrefix<'a> {
    policy: &'a str,
    index: usize,
    built: bool,
}

impl core::fmt::Display for RulePrefix<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.built {
            write!(f, "policy {}, rule {}: ", self.policy, self.index)?;
        }
        Ok(())
    }
}

/// A rule's pattern, parsed, with its warning; or why it is refused. The rare warning and error
/// are boxed: a large policy holds one of these per rule at once, and unboxed they doubled its
/// size (112 bytes).
type ParsedPattern = Result<(Pattern, Option<Box<PatternError>>), Box<PatternError>>;

/// Below this many rules, patterns are parsed on the calling thread alone.
const PARALLEL_PARSE_MIN: usize = 20_000;

/// The pattern of every rule of `specs`, in order, and the label-suffix hashes of their keys
/// (for sizing the matcher's table). With `parallel`, on two threads, half each:
/// patterns parse independently, and parsing them is a quarter of a compile. If the second
/// thread cannot be started (or fails), the calling thread parses its half too.
fn parse_patterns(specs: &[PolicySpec], parallel: bool) -> (Vec<ParsedPattern>, SuffixHashes) {
    let rules: Vec<&RuleSpec> = specs.iter().flat_map(|s| &s.rules).collect();
    let parse = |rules: &[&RuleSpec]| -> (Vec<ParsedPattern>, SuffixHashes) {
        let mut hashes = SuffixHashes::default();
        let parsed = rules
            .iter()
            .map(|r| {
                let p = boxed(Pattern::parse_with_warnings(&r.pattern));
                if let Ok((pattern, _)) = &p {
                    if let Some(key) = pattern_key(pattern) {
                        hashes.add(key.as_bytes());
                    }
                }
                p
            })
            .collect();
        (parsed, hashes)
    };
    if !parallel {
        return parse(&rules);
    }
    let (first, second) = rules.split_at(rules.len() / 2);
    std::thread::scope(|scope| {
        let other = std::thread::Builder::new().spawn_scoped(scope, || parse(second));
        let (mut out, mut hashes) = parse(first);
        let (rest, more) = match other.map(|h| h.join()) {
            Ok(Ok(rest)) => rest,
            _ => parse(second),
        };
        out.extend(rest);
        hashes.extend(more);
        (out, hashes)
    })
}

/// [`ParsedPattern`] from what the pattern parser returns.
fn boxed(p: Result<(Pattern, Option<PatternError>), PatternError>) -> ParsedPattern {
    p.map(|(pattern, warning)| (pattern, warning.map(Box::new)))
        .map_err(Box::new)
}

/// The key a pattern is filed under in the matcher (see [`Build::keyed`]).
fn pattern_key(p: &Pattern) -> Option<&str> {
    match p {
        Pattern::Exact(k) | Pattern::OneLabel(k) | Pattern::Deep(k) | Pattern::Dot(k) => Some(k),
        Pattern::Glob { suffix, .. } => Some(suffix),
        Pattern::Any | Pattern::Regex(_) | Pattern::Cidr(..) => None,
    }
}

impl Build {
    /// Compiles one policy; `patterns` yields its rules' parsed patterns, in order (see
    /// [`parse_patterns`]).
    fn policy(
        &mut self,
        pi: u32,
        spec: &PolicySpec,
        patterns: &mut impl Iterator<Item = ParsedPattern>,
        errors: &mut Vec<Diagnostic>,
    ) {
        let first_rule = self.rules.len() as u32;
        // Parse every rule's pattern first; ranks need all of them.
        let mut parsed: Vec<(usize, Pattern)> = Vec::with_capacity(spec.rules.len());
        let mut ids: HashMap<&str, u32> = HashMap::new();
        for (ri, rule) in spec.rules.iter().enumerate() {
            let at = |col: u32| if rule.line == 0 { 0 } else { col };
            let prefix = RulePrefix {
                policy: &spec.name,
                index: ri,
                built: rule.line == 0,
            };
            if let Some(id) = rule.id.as_deref() {
                if let Some(prev) = ids.insert(id, rule.line) {
                    errors.push(Diagnostic::error(
                        rule.line,
                        at(rule.id_column),
                        format!("{prefix}id `{id}` is already used on line {prev}"),
                    ));
                }
            }
            if let Some(msg) = builder_rule_problem(rule) {
                errors.push(Diagnostic::error(0, 0, format!("{prefix}{msg}")));
            }
            let parsed_pattern = patterns.next();
            debug_assert!(parsed_pattern.is_some(), "fewer parsed patterns than rules");
            let parsed_pattern = parsed_pattern
                .unwrap_or_else(|| boxed(Pattern::parse_with_warnings(&rule.pattern)));
            match parsed_pattern {
                Ok((pattern, warning)) => {
                    if let Some(w) = warning {
                        self.warnings.push(
                            Diagnostic::warning(
                                rule.line,
                                at(rule.pattern_column + w.offset as u32),
                                format!("{prefix}{}", w.message),
                            )
                            .with_help(w.help),
                        );
                    }
                    if rule.received && !matches!(pattern, Pattern::Regex(_)) {
                        errors.push(Diagnostic::error(
                            rule.line,
                            at(rule.received_column),
                            format!(
                                "{prefix}`received` applies only to `~regex` rules: other \
                                 patterns match the normalized name"
                            ),
                        ));
                        continue;
                    }
                    if let Pattern::Regex(re) = &pattern {
                        if let Err(msg) = check_regex(re, rule.received) {
                            errors.push(Diagnostic::error(
                                rule.line,
                                at(rule.pattern_column + 1),
                                format!("{prefix}{msg}"),
                            ));
                            continue;
                        }
                    }
                    parsed.push((ri, pattern));
                }
                Err(e) => errors.push(
                    Diagnostic::error(
                        rule.line,
                        at(rule.pattern_column + e.offset as u32),
                        format!("{prefix}{}", e.message),
                    )
                    .with_help(e.help),
                ),
            }
        }
        if parsed.len() != spec.rules.len() || errors.iter().any(|e| e.severity == Severity::Error)
        {
            // Keep checking later policies for errors, but build nothing.
            return;
        }
        let n = parsed.len() as u32;
        let ranks: Vec<u32> = match spec.precedence {
            Precedence::FirstMatch => (0..n).collect(),
            Precedence::DenyOverrides => spec
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| i as u32 + if r.action == Action::Allow { n } else { 0 })
                .collect(),
            Precedence::MostSpecific => {
                let mut order: Vec<usize> = (0..parsed.len()).collect();
                order.sort_by_key(|&i| {
                    let (class, spec_key) = specificity(&parsed[i].1);
                    (class, spec_key, spec.rules[i].action == Action::Allow, i)
                });
                let mut ranks = vec![0u32; order.len()];
                for (rank, &i) in order.iter().enumerate() {
                    ranks[i] = rank as u32;
                }
                ranks
            }
        };
        let mut any = Vec::new();
        let mut regex_min_rank = u32::MAX;
        let mut received_min_rank = u32::MAX;
        for ((ri, pattern), rank) in parsed.into_iter().zip(ranks) {
            let rule = &spec.rules[ri];
            let global = self.rules.len() as u32;
            let mut flags = if rule.via.is_empty() {
                ALL_VIA
            } else {
                HAS_VIA | rule.via.iter().fold(0, |m, v| m | v.bit())
            };
            if rule.action == Action::Deny {
                flags |= DENY;
            }
            if !rule.ports.is_empty() {
                flags |= HAS_PORTS;
            }
            if rule.received {
                flags |= RECEIVED;
            }
            // Only explicit ids are stored, beside the rules (most rules have none);
            // `POLICY:LINE` is derived when asked for.
            if let Some(id) = &rule.id {
                let off = self.ids.len() as u32;
                self.ids.push_str(id);
                self.named_ids.push((global, off, id.len() as u32));
            }
            let mut glob = None;
            let (shape, reference) = match pattern {
                Pattern::Exact(k) => (Shape::Exact, self.keyed(k, global)),
                Pattern::OneLabel(k) => (Shape::OneLabel, self.keyed(k, global)),
                Pattern::Deep(k) => (Shape::Deep, self.keyed(k, global)),
                Pattern::Dot(k) => (Shape::Dot, self.keyed(k, global)),
                Pattern::Glob { head, suffix } => {
                    glob = Some(self.globs.len() as u32);
                    self.globs
                        .push(head.into_iter().map(String::into_bytes).collect());
                    (Shape::Glob, self.keyed(suffix, global))
                }
                Pattern::Any => {
                    any.push(global);
                    (Shape::Any, 0)
                }
                Pattern::Regex(re) => {
                    if rule.received {
                        received_min_rank = received_min_rank.min(rank);
                    } else {
                        regex_min_rank = regex_min_rank.min(rank);
                    }
                    let next = self.regex_sources.len();
                    let id = *self.regex_ids.entry(re.clone()).or_insert(next);
                    if id == next {
                        self.regex_sources.push(re);
                        self.regex_rules.push(Vec::new());
                    }
                    self.regex_rules[id].push(global);
                    (Shape::Regex, id as u32)
                }
                Pattern::Cidr(ip, len) => {
                    let lens = match ip {
                        IpAddr::V4(_) => &mut self.ips.v4_lens,
                        IpAddr::V6(_) => &mut self.ips.v6_lens,
                    };
                    if !lens.contains(&len) {
                        lens.push(len);
                    }
                    self.ips
                        .map
                        .entry(IpTable::key(ip, len))
                        .or_default()
                        .push(global);
                    self.cidrs.push((ip, len));
                    (Shape::Cidr, self.cidrs.len() as u32 - 1)
                }
            };
            let aux = if glob.is_some() || !rule.ports.is_empty() {
                let ports_off = self.ports.len() as u32;
                self.ports.extend_from_slice(&rule.ports);
                self.aux.push(Aux {
                    glob: glob.unwrap_or(u32::MAX),
                    ports_off,
                    ports_len: rule.ports.len() as u32,
                });
                self.aux.len() as u32 - 1
            } else {
                NO_AUX
            };
            self.pattern_ref.push(reference);
            self.rules.push(Built {
                rank,
                line: rule.line,
                aux,
                shape,
                flags,
            });
        }
        any.sort_by_key(|&g| self.rules[g as usize].rank);
        self.by_name.insert(spec.name.clone(), pi);
        self.policies.push(PolicyMeta {
            name: spec.name.clone(),
            precedence: spec.precedence,
            default: spec.default,
            first_rule,
            rule_count: n,
            any,
            regex_min_rank,
            received_min_rank,
        });
    }

    /// Files `rule` under `key`; returns the index of the pair (made a node index later).
    fn keyed(&mut self, key: String, rule: u32) -> u32 {
        self.keyed.push((key, rule));
        self.keyed.len() as u32 - 1
    }

    /// Builds the engine; `sizing` is the matcher table's, when it was counted beforehand.
    fn finish(mut self, sizing: Option<Sizing>) -> Result<Engine, CompileErrors> {
        let rules = &self.rules;
        let policies = &self.policies;
        let order = |g: u32| {
            debug_assert!((g as usize) < rules.len(), "rule {g} filed but not built");
            rules.get(g as usize).map_or((u32::MAX, u32::MAX), |r| {
                (policy_index(policies, g) as u32, r.rank)
            })
        };
        for v in self.ips.map.values_mut() {
            v.sort_by_key(|&g| order(g));
            v.shrink_to_fit();
        }
        self.ips.v4_lens.sort_unstable_by(|a, b| b.cmp(a));
        self.ips.v6_lens.sort_unstable_by(|a, b| b.cmp(a));
        let regexes = regex::build_set(
            &self.regex_sources,
            std::mem::take(&mut self.regex_rules),
            order,
        )?;
        let (table, node_of) = SuffixTable::build(&self.keyed, sizing, order, |g| {
            debug_assert!((g as usize) < rules.len(), "rule {g} filed but not built");
            rules
                .get(g as usize)
                .map_or(0, |r| pack_meta(r.shape, r.flags))
        });
        // Keyed rules point at their table node, for showing their pattern.
        for (g, r) in self.rules.iter().enumerate() {
            if matches!(
                r.shape,
                Shape::Exact | Shape::OneLabel | Shape::Deep | Shape::Dot | Shape::Glob
            ) {
                let node = node_of.get(self.pattern_ref[g] as usize);
                debug_assert!(node.is_some(), "keyed rule {g} has no table node");
                if let Some(&e) = node {
                    self.pattern_ref[g] = e;
                }
            }
        }
        let rules = columns(&self.rules, &self.policies);
        self.ids.shrink_to_fit();
        self.named_ids.shrink_to_fit();
        self.ports.shrink_to_fit();
        self.aux.shrink_to_fit();
        self.pattern_ref.shrink_to_fit();
        Ok(Engine {
            policies: self.policies,
            by_name: self.by_name,
            rules,
            aux: self.aux,
            table,
            globs: self.globs,
            ips: self.ips,
            regexes,
            ports: self.ports,
            ids: self.ids,
            named_ids: self.named_ids,
            pattern_ref: Store::from(self.pattern_ref),
            regex_sources: self.regex_sources,
            cidrs: self.cidrs,
            warnings: self.warnings,
        })
    }
}

/// Checks a builder rule for what the text parser would have refused.
fn builder_rule_problem(rule: &RuleSpec) -> Option<String> {
    // Text rules were already checked by the parser; built ones (whatever their `line`) not.
    if let Some((lo, hi)) = rule.ports.iter().find(|(lo, hi)| *lo == 0 || lo > hi) {
        return Some(format!(
            "bad port range {lo}-{hi} (ports are 1-65535, low ≤ high)"
        ));
    }
    let mut via = rule.via.clone();
    via.sort();
    via.dedup();
    if via.len() != rule.via.len() {
        return Some("a source is repeated in `via`".into());
    }
    if let Some(id) = &rule.id {
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Some(format!("id `{id}` must be non-empty and without spaces"));
        }
    }
    None
}
