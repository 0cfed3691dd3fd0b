//! The DNS-learned allowlist: the addresses allowed answers gave, the name each came from, and
//! their additions to nftables sets.
//!
//! Answer records are read by walking the message in place ([`crate::wire::answer_addresses`]):
//! every A and AAAA record whose owner is the question's name, or a name the answer's CNAME
//! records lead to from it.
//! Additions go to nftables through its JSON API (the `nftables` crate, which runs
//! `nft -j -f -`): one `nft` run per batch, whatever the number of queries and addresses waiting
//! when it starts, so a burst of answers costs one run, not one per address. Each element is
//! added, deleted and added again with its timeout in the same transaction: the kernel applies
//! the three atomically, and the deletion is what makes an older kernel (one that keeps an
//! existing element's timeout on a plain add) take the new timeout.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use nftables::batch::Batch;
use nftables::expr::{Elem, Expression, NamedExpression};
use nftables::schema::{Element, NfListObject};
use nftables::types::NfFamily;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// An address an answer gave for the question's name, with its record's TTL in seconds.
///
/// ```
/// let l = hostgate_dns::learn::Learned { addr: "192.0.2.7".parse().unwrap(), ttl: 30 };
/// assert!(l.addr.is_ipv4());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Learned {
    /// The A or AAAA record's address.
    pub addr: IpAddr,
    /// The record's TTL.
    pub ttl: u32,
}

/// The A and AAAA addresses an upstream answer gives for `qname` (a normalized name: lowercase,
/// no trailing dot), in answer order: records in the answer section, class IN, whose owner is
/// `qname` or is reached from it through the answer's CNAME records. Records for other owners
/// (what an upstream might add for names nobody asked about) are ignored. An error when the
/// message cannot be read. The server itself calls [`crate::wire::answer_addresses`], which
/// fills a reused buffer instead.
///
/// ```
/// use hostgate_dns::learn::answer_addresses;
/// // a.test CNAME b.test, b.test A 192.0.2.7 (TTL 30), other.test A 192.0.2.99.
/// let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
/// m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
/// m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'b', 0xc0, 14]);
/// m.extend_from_slice(&[0xc0, 36, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7]);
/// m.extend_from_slice(b"\x05other\xc0\x0e");
/// m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 99]);
/// let got = answer_addresses(&m, "a.test").unwrap();
/// assert_eq!(got.len(), 1);
/// assert_eq!((got[0].addr.to_string(), got[0].ttl), ("192.0.2.7".to_string(), 30));
/// assert!(answer_addresses(&m[..20], "a.test").is_err());
/// ```
pub fn answer_addresses(reply: &[u8], qname: &str) -> Result<Vec<Learned>, String> {
    let mut found = Vec::new();
    crate::wire::answer_addresses(reply, qname, &mut found)?;
    Ok(found
        .into_iter()
        .map(|(addr, ttl)| Learned { addr, ttl })
        .collect())
}

/// `--nft-set FAMILY/TABLE/SET4[,SET6]`: the nftables sets learned addresses go to, IPv4 ones
/// to the first set, IPv6 ones to the second (without one, IPv6 addresses are not added).
///
/// ```
/// let s: hostgate_dns::learn::NftSets = "inet/hostgate/allow4,allow6".parse().unwrap();
/// assert_eq!((s.table.as_str(), s.set4.as_str(), s.set6.as_deref()), ("hostgate", "allow4", Some("allow6")));
/// assert_eq!(s.to_string(), "inet/hostgate/allow4,allow6");
/// assert!("inet/hostgate".parse::<hostgate_dns::learn::NftSets>().is_err());
/// assert!("ipx/t/s".parse::<hostgate_dns::learn::NftSets>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftSets {
    /// `ip`, `ip6`, `inet`, `bridge`, `netdev` or `arp`.
    pub family: String,
    /// The table.
    pub table: String,
    /// The set of `type ipv4_addr` with `flags timeout`.
    pub set4: String,
    /// The set of `type ipv6_addr` with `flags timeout`.
    pub set6: Option<String>,
}

fn family(name: &str) -> Option<NfFamily> {
    Some(match name {
        "ip" => NfFamily::IP,
        "ip6" => NfFamily::IP6,
        "inet" => NfFamily::INet,
        "bridge" => NfFamily::Bridge,
        "netdev" => NfFamily::NetDev,
        "arp" => NfFamily::ARP,
        _ => return None,
    })
}

impl FromStr for NftSets {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected FAMILY/TABLE/SET4[,SET6], got {s:?}");
        let mut parts = s.split('/');
        let (Some(fam), Some(table), Some(sets), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if family(fam).is_none() {
            return Err(format!(
                "unknown nftables family {fam:?} (ip, ip6, inet, bridge, netdev, arp)"
            ));
        }
        let (set4, set6) = match sets.split_once(',') {
            Some((a, b)) => (a, Some(b)),
            None => (sets, None),
        };
        if table.is_empty() || set4.is_empty() || set6 == Some("") {
            return Err(bad());
        }
        Ok(NftSets {
            family: fam.into(),
            table: table.into(),
            set4: set4.into(),
            set6: set6.map(String::from),
        })
    }
}

impl fmt::Display for NftSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.family, self.table, self.set4)?;
        if let Some(s6) = &self.set6 {
            write!(f, ",{s6}")?;
        }
        Ok(())
    }
}

/// One row of the name ↔ address table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub addr: IpAddr,
    pub name: String,
    pub left: Duration,
}

/// Which allowed names gave which addresses, until when.
#[derive(Default)]
pub(crate) struct Table {
    rows: Mutex<HashMap<IpAddr, Vec<(String, Instant)>>>,
}

impl Table {
    /// When the address's latest entry expires.
    pub fn expiry(&self, addr: IpAddr, now: Instant) -> Option<Instant> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.get(&addr)?
            .iter()
            .map(|&(_, t)| t)
            .filter(|&t| t > now)
            .max()
    }

    pub fn insert(&self, addr: IpAddr, name: &str, until: Instant) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let names = rows.entry(addr).or_default();
        match names.iter_mut().find(|(n, _)| n == name) {
            Some((_, t)) => *t = (*t).max(until),
            None => names.push((name.to_string(), until)),
        }
    }

    /// Drops what has expired.
    pub fn sweep(&self, now: Instant) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.retain(|_, names| {
            names.retain(|&(_, t)| t > now);
            !names.is_empty()
        });
    }

    /// What is in force, by address then name.
    pub fn rows(&self, now: Instant) -> Vec<Row> {
        self.sweep(now);
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Row> = rows
            .iter()
            .flat_map(|(&addr, names)| {
                names.iter().map(move |(name, t)| Row {
                    addr,
                    name: name.clone(),
                    left: *t - now,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
        out
    }
}

/// Addresses to add, each with its timeout in seconds, and where to say how it went.
struct Job {
    elems: Vec<(IpAddr, u32)>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The queue to the one task that runs `nft`.
#[derive(Clone)]
pub(crate) struct Nft {
    tx: mpsc::Sender<Job>,
    pub sets: NftSets,
}

/// Jobs one `nft` run takes at most.
const BATCH_JOBS: usize = 512;
/// How long one `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);

impl Nft {
    /// Starts the task (needs a tokio runtime).
    pub fn start(sets: NftSets, program: PathBuf) -> Nft {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(worker(rx, sets.clone(), program));
        Nft { tx, sets }
    }

    /// Adds the addresses to the sets; returns once `nft` has applied them (or failed).
    pub async fn add(&self, elems: Vec<(IpAddr, u32)>) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job { elems, done })
            .await
            .map_err(|_| "nft: the nftables task has stopped".to_string())?;
        rx.await
            .unwrap_or_else(|_| Err("nft: the nftables task has stopped".into()))
    }
}

async fn worker(mut rx: mpsc::Receiver<Job>, sets: NftSets, program: PathBuf) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < BATCH_JOBS {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let result = apply(&sets, &program, jobs.iter().flat_map(|j| j.elems.iter())).await;
        for j in jobs {
            let _ = j.done.send(result.clone());
        }
    }
}

/// The batch for these elements: per set, add, delete and add again (see the module's comment),
/// each address once with its longest timeout. `None` when there is nothing to add.
pub(crate) fn batch<'a>(
    sets: &'a NftSets,
    elems: impl Iterator<Item = &'a (IpAddr, u32)>,
) -> Option<nftables::schema::Nftables<'static>> {
    let mut longest: HashMap<IpAddr, u32> = HashMap::new();
    for &(addr, timeout) in elems {
        let t = longest.entry(addr).or_insert(timeout);
        *t = (*t).max(timeout);
    }
    let fam = family(&sets.family)?;
    let mut batch = Batch::new();
    let mut any = false;
    for (v6, set) in [(false, Some(&sets.set4)), (true, sets.set6.as_ref())] {
        let Some(set) = set else { continue };
        let mut these: Vec<(IpAddr, u32)> = longest
            .iter()
            .filter(|(a, _)| a.is_ipv6() == v6)
            .map(|(&a, &t)| (a, t))
            .collect();
        if these.is_empty() {
            continue;
        }
        these.sort();
        any = true;
        let element = |elem: Vec<Expression<'static>>| {
            NfListObject::Element(Element {
                family: fam,
                table: sets.table.clone().into(),
                name: set.clone().into(),
                elem: elem.into(),
            })
        };
        let with_timeout: Vec<Expression<'static>> = these
            .iter()
            .map(|&(a, t)| {
                Expression::Named(NamedExpression::Elem(Elem {
                    val: Box::new(Expression::String(a.to_string().into())),
                    timeout: Some(t),
                    expires: None,
                    comment: None,
                    counter: None,
                }))
            })
            .collect();
        let bare: Vec<Expression<'static>> = these
            .iter()
            .map(|&(a, _)| Expression::String(a.to_string().into()))
            .collect();
        batch.add(element(with_timeout.clone()));
        batch.delete(element(bare));
        batch.add(element(with_timeout));
    }
    any.then(|| batch.to_nftables())
}

/// Runs `nft -j -f -` on the batch. The `nftables` crate builds the JSON; the run is here
/// rather than through its helper so that nft's error message lands in the query's log line
/// and a hung `nft` is killed.
async fn apply<'a>(
    sets: &'a NftSets,
    program: &PathBuf,
    elems: impl Iterator<Item = &'a (IpAddr, u32)>,
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let Some(rules) = batch(sets, elems) else {
        return Ok(());
    };
    let json = serde_json::to_string(&rules).map_err(|e| format!("nft: {e}"))?;
    let run = async {
        let mut child = tokio::process::Command::new(program)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("nft: cannot run {}: {e}", program.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(json.as_bytes())
                .await
                .map_err(|e| format!("nft: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| format!("nft: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Err(format!(
            "nft: {}",
            if lines.is_empty() {
                out.status.to_string()
            } else {
                lines.join(" ")
            }
        ))
    };
    tokio::time::timeout(NFT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err("nft: timeout".into()))
}
