//! The hot path: [`Engine::check`], [`Engine::check_name`] and [`Engine::check_batch`].
//!
//! A lookup walks the query's label suffixes through the matcher (`crate::matcher`), offers
//! each rule filed under a matching key to a [`Collector`] (the best rank wins, see
//! `PolicyMeta::rank_of`), then tries the policy's `*` rules and, when they could still win, its
//! regexes; IP literals go through the CIDR table instead. [`super::explain`] runs the same
//! walk with a collector that keeps every match. Rule encoding is in [`super::rule`].

use std::cell::RefCell;
use std::net::IpAddr;

use regex_automata::{Anchored, Input, PatternSet};

use super::rule::{conditions, unpack_meta, MatchedRule, Rule, Shape, DENY, RECEIVED};
use super::{Engine, IpTable, PolicyMeta};
use crate::matcher::Hit;
use crate::name::{fast_body, normalize_into, scan_ascii, Name, NameKind, MAX_INPUT_LEN};
use crate::pattern::glob_label_match;
use crate::verdict::{Action, PolicyId, Query, Reason, Verdict, Via};

thread_local! {
    /// Scratch for the regex set; allocated once per thread, so lookups do not allocate.
    static PATTERN_SET: RefCell<PatternSet> = RefCell::new(PatternSet::new(0));
}

/// The best candidate so far, or every candidate (for explanations).
pub(super) trait Collector {
    /// Ranks at or above this cannot improve the answer.
    fn bound(&self) -> u32;
    fn offer(&mut self, rank: u32, rule: u32, deny: bool);
}

/// The best match so far: its rank, rule and action. `rank` is `u32::MAX` while there is none
/// (no rule's rank reaches it: ranks stay below twice the rule limit), so the bound is a plain
/// read, not an `Option` to test.
struct Best {
    rank: u32,
    rule: u32,
    deny: bool,
}

impl Best {
    const NONE: Best = Best {
        rank: u32::MAX,
        rule: 0,
        deny: false,
    };
}

impl Collector for Best {
    #[inline(always)]
    fn bound(&self) -> u32 {
        self.rank
    }
    #[inline(always)]
    fn offer(&mut self, rank: u32, rule: u32, deny: bool) {
        if rank < self.rank {
            *self = Best { rank, rule, deny };
        }
    }
}

pub(super) struct All(pub(super) Vec<(u32, u32)>);

impl Collector for All {
    fn bound(&self) -> u32 {
        u32::MAX
    }
    fn offer(&mut self, rank: u32, rule: u32, _deny: bool) {
        self.0.push((rank, rule));
    }
}

/// A valid lowercase host name, as the matcher reads it.
#[derive(Clone, Copy)]
struct Host<'a> {
    bytes: &'a [u8],
    /// Bit `i` set when byte `i` is a dot. By value: a reference kept the scan's result in
    /// memory, copied there every lookup.
    dots: [u64; 4],
}

impl Engine {
    /// Checks one query against a policy. Never allocates; never panics.
    ///
    /// An unknown policy id gives deny (reason `default`).
    ///
    /// ```
    /// use hostgate::{Action, Engine, Query, Reason};
    /// let e = Engine::compile("allow *\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// assert_eq!(e.check(p, &Query::new("anything.example")).action, Action::Allow);
    /// let v = e.check(p, &Query::new("bad..name"));
    /// assert_eq!((v.action, v.reason), (Action::Deny, Reason::InvalidName));
    /// ```
    #[inline]
    pub fn check(&self, policy: PolicyId, query: &Query<'_>) -> Verdict<'_> {
        // The common case — an ASCII host name already in lowercase — is validated in place and
        // matched straight from the caller's bytes: nothing is copied.
        if let Some(body) = fast_body(query.name) {
            match scan_ascii::<true>(body) {
                Some(Ok(scan)) => {
                    let host = Host {
                        bytes: body,
                        dots: scan.dot_bits,
                    };
                    let (port, via) = (query.port, query.via);
                    return self.verdict(policy, |pol, best| {
                        self.collect_host(pol, host, port, via, best);
                        if pol.received_min_rank < best.bound() {
                            self.collect_received(pol, query.name, true, port, via, best);
                        }
                    });
                }
                Some(Err(_)) => return Verdict::deny(policy, Reason::InvalidName),
                _ => {}
            }
        }
        self.check_normalized(policy, query)
    }

    /// [`Engine::check`] for names the in-place path does not take (uppercase, IDNA, IP
    /// literals, over 1,024 bytes…): normalized into a buffer first. Out of line, so that its
    /// buffer and code do not crowd the registers of the common path.
    #[inline(never)]
    fn check_normalized(&self, policy: PolicyId, query: &Query<'_>) -> Verdict<'_> {
        let mut name = Name::empty();
        match normalize_into(query.name, &mut name) {
            Ok(()) => self.check_with_raw(policy, &name, query.name, true, query.port, query.via),
            Err(_) => Verdict::deny(policy, Reason::InvalidName),
        }
    }

    /// Checks a normalized name whose `received` form is `raw` (with `add_port`, `:PORT` is
    /// added to it as [`Engine::check`] documents; without, it already carries what it had).
    #[inline]
    pub(crate) fn check_with_raw(
        &self,
        policy: PolicyId,
        name: &Name,
        raw: &[u8],
        add_port: bool,
        port: Option<u16>,
        via: Option<Via>,
    ) -> Verdict<'_> {
        self.verdict(policy, |pol, best| {
            self.collect(pol, name, port, via, best);
            if pol.received_min_rank < best.bound() {
                self.collect_received(pol, raw, add_port, port, via, best);
            }
        })
    }

    /// The verdict of `policy` from the best rule `collect` offers (an unknown policy denies).
    #[inline(always)]
    fn verdict(
        &self,
        policy: PolicyId,
        collect: impl FnOnce(&PolicyMeta, &mut Best),
    ) -> Verdict<'_> {
        let Some(pol) = self.policies.get(policy.0 as usize) else {
            return Verdict::deny(policy, Reason::Default);
        };
        let mut best = Best::NONE;
        collect(pol, &mut best);
        if best.rank == u32::MAX {
            return Verdict {
                action: pol.default,
                reason: Reason::Default,
                policy,
                rule: None,
            };
        }
        self.matched(policy, best.rule, best.deny)
    }

    /// Checks an already-normalized name (what the parsers in [`crate::inspect`] produce).
    /// `received` regex rules see the normalized name (with `:PORT` as [`Engine::check`]
    /// adds it): the name as received is not known here.
    ///
    /// ```
    /// use hostgate::{normalize, Action, Engine, Via};
    /// let e = Engine::compile("allow 203.0.113.0/24 via http\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// let n = normalize("203.0.113.9").unwrap();
    /// assert_eq!(e.check_name(p, &n, Some(80), Some(Via::Http)).action, Action::Allow);
    /// assert_eq!(e.check_name(p, &n, Some(80), None).action, Action::Deny);
    /// ```
    pub fn check_name(
        &self,
        policy: PolicyId,
        name: &Name,
        port: Option<u16>,
        via: Option<Via>,
    ) -> Verdict<'_> {
        self.check_with_raw(policy, name, name.as_bytes(), true, port, via)
    }

    /// Checks many queries against one policy, writing `out[i]` for `queries[i]`.
    /// Returns how many were written (the shorter of the two lengths).
    ///
    /// ```
    /// use hostgate::{Action, Engine, Query, Verdict};
    /// let e = Engine::compile("allow .kadath.io\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// let qs = [Query::new("a.kadath.io"), Query::new("leng.com")];
    /// let mut out = [Verdict::default(); 2];
    /// assert_eq!(e.check_batch(p, &qs, &mut out), 2);
    /// assert_eq!((out[0].action, out[1].action), (Action::Allow, Action::Deny));
    /// ```
    pub fn check_batch<'e>(
        &'e self,
        policy: PolicyId,
        queries: &[Query<'_>],
        out: &mut [Verdict<'e>],
    ) -> usize {
        let n = queries.len().min(out.len());
        for (q, o) in queries.iter().zip(out.iter_mut()) {
            *o = self.check(policy, q);
        }
        n
    }

    #[inline(always)]
    fn matched(&self, policy: PolicyId, global: u32, deny: bool) -> Verdict<'_> {
        Verdict {
            action: if deny { Action::Deny } else { Action::Allow },
            reason: Reason::Matched,
            policy,
            rule: Some(MatchedRule {
                engine: self,
                rule: global,
            }),
        }
    }

    /// Port and source conditions of a rule (its pattern already matched).
    #[inline(always)]
    fn conditions_hold(&self, r: &Rule, port: Option<u16>, via: Option<Via>) -> bool {
        conditions(r.flags(), port, via, |p| {
            self.ports_of(r).iter().any(|&(lo, hi)| lo <= p && p <= hi)
        })
    }

    /// Offers the rules of `list` (sorted by policy, then rank) that belong to `pol`, match
    /// (per `shape_ok`) and meet their conditions; stops at the first, which ranks best.
    #[inline(always)]
    fn offer_from(
        &self,
        list: &[u32],
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
        shape_ok: impl Fn(&Rule) -> bool,
    ) {
        // A policy's rules are numbered contiguously, so the list holds them as one run.
        let list = if list.len() > 1 {
            let start = list.partition_point(|&g| g < pol.first_rule);
            let end = list.partition_point(|&g| g < pol.first_rule + pol.rule_count);
            debug_assert!(start <= end, "rule list not sorted: {list:?}");
            list.get(start..end).unwrap_or(&[])
        } else {
            list
        };
        for &g in list {
            let r = self.rules.get(g);
            debug_assert!(r.is_some(), "rule {g} filed but not in the rule array");
            let Some(r) = r else {
                continue;
            };
            if !pol.owns(g) {
                continue;
            }
            let rank = pol.rank_of(g, r.deny(), || self.rules.stored_rank(g));
            if rank >= c.bound() {
                break;
            }
            if shape_ok(&r) && self.conditions_hold(&r, port, via) {
                c.offer(rank, g, r.deny());
                if c.bound() != u32::MAX {
                    // Sorted by rank: nothing later in this list can do better.
                    break;
                }
            }
        }
    }

    /// Offers every matching rule of the policy to `c` (pruned by `c.bound()`).
    #[inline]
    pub(super) fn collect(
        &self,
        pol: &PolicyMeta,
        name: &Name,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        match name.kind() {
            NameKind::Ip(ip) => self.collect_ip(pol, ip, port, via, c),
            NameKind::Name => {
                let host = Host {
                    bytes: name.as_bytes(),
                    dots: *name.dot_bits(),
                };
                self.collect_host(pol, host, port, via, c)
            }
        }
    }

    /// [`Engine::collect`] for a valid lowercase host name.
    #[inline(always)]
    fn collect_host(
        &self,
        pol: &PolicyMeta,
        host: Host<'_>,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let bytes = host.bytes;
        // A `move` closure holds copies of the port and source, not the addresses of locals
        // (which made every lookup store them).
        let visit_c = &mut *c;
        self.table.walk(bytes, host.dots, move |depth, start, hit| {
            self.offer_hit(hit, depth, bytes, start, pol, port, via, visit_c);
        });
        if !pol.any.is_empty() {
            self.offer_from(&pol.any, pol, port, via, c, |_| true);
        }
        if pol.regex_min_rank < c.bound() {
            self.collect_regex(pol, bytes, false, port, via, c);
        }
    }

    /// Offers the policy's `received` regex rules that match the name as received: `raw`,
    /// with `:PORT` added when `add_port` and the query is via `connect`, or via `http` to a
    /// port other than 80 (the Host header then carries it). Out of line: only policies with
    /// such rules come here.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn collect_received(
        &self,
        pol: &PolicyMeta,
        raw: &[u8],
        add_port: bool,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        // Valid names are at most MAX_INPUT_LEN bytes as received, an HTTP authority six more.
        let mut buf = [0u8; MAX_INPUT_LEN + 8];
        let Some(head) = buf.get_mut(..raw.len()) else {
            return;
        };
        head.copy_from_slice(raw);
        let mut len = raw.len();
        let shown = match (port, via) {
            (Some(p), Some(Via::Connect)) => Some(p),
            (Some(p), Some(Via::Http)) if p != 80 => Some(p),
            _ => None,
        };
        if let (true, Some(p)) = (add_port, shown) {
            let mut digits = [0u8; 5];
            let mut n = 0;
            let mut v = p;
            loop {
                digits[n] = b'0' + (v % 10) as u8;
                n += 1;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            if let Some(out) = buf.get_mut(len..len + 1 + n) {
                out[0] = b':';
                for (o, d) in out[1..].iter_mut().zip(digits[..n].iter().rev()) {
                    *o = *d;
                }
                len += 1 + n;
            }
        }
        self.collect_regex(pol, &buf[..len], true, port, via, c);
    }

    /// Offers the rules filed under a key that is a suffix of the query (`depth` labels left
    /// of it, counted up to 2; the key starts at `start`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn offer_hit(
        &self,
        hit: Hit<'_>,
        depth: u32,
        bytes: &[u8],
        start: usize,
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        match hit {
            Hit::One(g, meta) => {
                self.offer_one(g, meta, pol, port, via, c, |shape| {
                    let rule = || self.rules.get(g);
                    self.shape_holds(shape, rule, depth, bytes, start)
                });
            }
            Hit::Many(list) => {
                self.offer_from(list, pol, port, via, c, |r| {
                    self.shape_holds(r.shape(), || Some(*r), depth, bytes, start)
                });
            }
        }
    }

    /// Whether a keyed rule's shape accepts a query with `depth` labels left of the key
    /// (counted up to 2: globs count their labels themselves).
    /// `rule` is only read for globs (their head lives in the rule's extras).
    #[inline(always)]
    fn shape_holds(
        &self,
        shape: Shape,
        rule: impl FnOnce() -> Option<Rule>,
        depth: u32,
        name: &[u8],
        suffix_start: usize,
    ) -> bool {
        // Which depths the plain shapes accept, as bits for depth 0, 1 and 2 or more: a table,
        // not a branch per shape (lookups mix shapes at random, so branches mispredict).
        const ACCEPTS: [u8; 8] = [0b001, 0b010, 0b110, 0b111, 0, 0, 0, 0];
        if shape != Shape::Glob {
            return ACCEPTS[shape as usize & 7] >> depth.min(2) & 1 != 0;
        }
        match shape {
            Shape::Glob => {
                // No head: an engine file's node may say glob for a rule that is not one (its
                // copy is checked for a head only when some rule is a glob); it matches nothing.
                let head = rule()
                    .and_then(|r| self.aux_of(&r))
                    .and_then(|a| self.globs.get(a.glob as usize));
                let Some(head) = head else {
                    return false;
                };
                if depth == 0 {
                    return false;
                }
                // Labels left of the suffix (suffix_start > 0 here, since depth >= 1): exactly
                // one per head glob (`depth` is counted only up to 2).
                debug_assert!(
                    (1..=name.len()).contains(&suffix_start),
                    "a suffix with labels left of it starts at {suffix_start}"
                );
                let left = name.get(..suffix_start.saturating_sub(1)).unwrap_or(&[]);
                let mut labels = left.split(|&b| b == b'.');
                head.iter()
                    .all(|pat| labels.next().is_some_and(|l| glob_label_match(pat, l)))
                    && labels.next().is_none()
            }
            _ => false,
        }
    }

    /// `offer_from` for a key filed by one rule, deciding from the matcher's copy of the rule's
    /// shape and flags; the rule itself is read only for port ranges, glob heads and
    /// most-specific ranks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn offer_one(
        &self,
        global: u32,
        meta: u16,
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
        shape_ok: impl FnOnce(Shape) -> bool,
    ) {
        if !pol.owns(global) {
            return;
        }
        let (shape, flags) = unpack_meta(meta);
        let deny = flags & DENY != 0;
        let rule = || self.rules.get(global);
        // No stored rank, no rank: u32::MAX is never offered.
        let rank = pol.rank_of(global, deny, || self.rules.stored_rank(global));
        if rank >= c.bound() || !shape_ok(shape) {
            return;
        }
        let ports_ok = |p: u16| {
            rule().is_some_and(|r| self.ports_of(&r).iter().any(|&(lo, hi)| lo <= p && p <= hi))
        };
        if conditions(flags, port, via, ports_ok) {
            c.offer(rank, global, deny);
        }
    }

    fn collect_ip(
        &self,
        pol: &PolicyMeta,
        ip: IpAddr,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let lens = match ip {
            IpAddr::V4(_) => &self.ips.v4_lens,
            IpAddr::V6(_) => &self.ips.v6_lens,
        };
        for &len in lens {
            if let Some(list) = self.ips.map.get(&IpTable::key(ip, len)) {
                self.offer_from(list, pol, port, via, c, |_| true);
            }
        }
    }

    /// Offers the regex rules matching `name`: the `received` ones when `received`, else the
    /// others (both kinds share one set).
    fn collect_regex(
        &self,
        pol: &PolicyMeta,
        name: &[u8],
        received: bool,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let Some(set) = &self.regexes else {
            return;
        };
        let mut run = |patset: &mut PatternSet| {
            patset.clear();
            let input = Input::new(name).anchored(Anchored::Yes);
            set.regex.which_overlapping_matches(&input, patset);
            for pid in patset.iter() {
                if let Some(list) = set.rules.get(pid.as_usize()) {
                    self.offer_from(list, pol, port, via, c, |r| {
                        (r.flags() & RECEIVED != 0) == received
                    });
                }
            }
        };
        let n = set.rules.len();
        let done = PATTERN_SET
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut patset) => {
                    if patset.capacity() < n {
                        *patset = PatternSet::new(n);
                    }
                    run(&mut patset);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            // The thread's scratch is gone (thread-local destructors) or in use (re-entry):
            // use a fresh one rather than skip regex rules, which could fail open.
            run(&mut PatternSet::new(n));
        }
    }
}
