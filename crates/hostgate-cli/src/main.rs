//! `hostgate`: check host names against a policy file, or explain one verdict.
//!
//! Exit status: 0 when the verdicts (or the explanation) were printed, whatever they are;
//! 2 when the job could not be done (bad usage, unreadable or invalid policy, unknown policy
//! name, I/O error). A deny is an answer, not a failure, so it does not change the status.

mod check;
mod compile;
mod diff;
mod docs;
mod explain;
mod import;
mod inspect;
mod load;
mod output;
mod pcap;
mod squid;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "hostgate",
    version,
    about = "Allow/deny verdicts for destination host names",
    long_about = "Allow/deny verdicts for destination host names.\n\n\
                  Exit status: 0 when verdicts were printed (allow or deny); 2 when the policy \
                  does not compile, a file cannot be read, or the usage is wrong."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a verdict for each name (names from standard input when none are given)
    #[command(after_help = examples::CHECK)]
    Check(check::CheckArgs),
    /// Show every rule that matches one name, which one decides, and why
    #[command(after_help = examples::EXPLAIN)]
    Explain(explain::ExplainArgs),
    /// Pull the destination name out of captured bytes (TLS ClientHello, HTTP/1 request head,
    /// DNS query) and, with --policy, give its verdict
    #[command(after_help = examples::INSPECT)]
    Inspect(inspect::InspectArgs),
    /// Answer Squid external ACL requests on stdin/stdout (`external_acl_type`)
    #[command(after_help = examples::SQUID_HELPER)]
    SquidHelper(squid::SquidArgs),
    /// Print the queries (name, port, source) on which two policies disagree, one per
    /// disagreement region; exit 1 when they disagree, 0 when they agree everywhere
    #[command(after_help = examples::DIFF)]
    Diff(diff::DiffArgs),
    /// Read another system's egress policies (Cilium, GKE, Squid, …) and print the equivalent
    /// hostgate policy
    #[command(after_help = examples::IMPORT)]
    Import(import::ImportArgs),
    /// Compile a policy into an engine file, which every `--policy` opens without compiling
    /// (mapped, shared between processes)
    #[command(after_help = examples::COMPILE)]
    Compile(compile::CompileArgs),
    /// Serve DNS by policy: allowed names are forwarded to the upstream, denied ones answered
    /// locally (SIGHUP re-reads the policy)
    #[command(after_help = examples::DNS)]
    Dns(DnsArgs),
    /// Print a shell completion script (bash, zsh or fish)
    #[command(after_help = examples::COMPLETIONS)]
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff): `hostgate man | man -l -`
    #[command(after_help = examples::MAN)]
    Man,
}

/// `hostgate dns`: the `hostgate-dns` server's flags.
#[derive(Args)]
struct DnsArgs {
    #[command(flatten)]
    args: hostgate_dns::Args,
}

/// Runs the DNS server until it is stopped; only a failure to start returns.
fn dns(args: DnsArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::msg(format!("cannot start the DNS server: {e}")))?;
    runtime
        .block_on(hostgate_dns::run(args.args.into_config()))
        .map_err(|e| match e {
            hostgate_dns::Error::Policy(e) => {
                Failure(format!("hostgate dns: policy refused:\n{e}\n"))
            }
            e => Failure::msg(format!("dns: {e}")),
        })
}

/// What every subcommand needs to ask the engine one question.
#[derive(Args, Clone)]
pub struct QueryArgs {
    /// The policy file
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The policy file's format: hostgate, or an import format (docs/import.md)
    #[arg(long = "from", value_name = "FORMAT", default_value = "hostgate", value_parser = format_parser())]
    pub from: hostgate::Format,
    #[command(flatten)]
    pub import: import::ImportFlags,
    /// The policy to ask [default: `default` when the file has it, else its first policy]
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,
    /// Destination port; without it the query is a DNS-style question (port-limited allow
    /// rules match it, port-limited deny rules do not)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Where the name came from; without it the source is unknown (via-limited deny rules
    /// match, via-limited allow rules do not)
    #[arg(long, value_parser = via_parser())]
    pub via: Option<hostgate::Via>,
}

/// `--from` values, parsed by [`hostgate::Format`]'s `FromStr`.
pub fn format_parser() -> impl TypedValueParser<Value = hostgate::Format> {
    PossibleValuesParser::new(
        hostgate::Format::ALL
            .iter()
            .map(|&f| PossibleValue::new(f.as_str()).help(format_help(f))),
    )
    .try_map(|s| s.parse::<hostgate::Format>())
}

/// The help line of each `--from` value.
fn format_help(format: hostgate::Format) -> &'static str {
    use hostgate::Format as F;
    match format {
        F::Hostgate => "the hostgate policy language",
        F::Cilium => "CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy",
        F::Gke => "GKE FQDNNetworkPolicy",
        F::Istio => {
            "Istio ServiceEntry / Sidecar / VirtualService and the mesh outboundTrafficPolicy"
        }
        F::Anp => "AdminNetworkPolicy / BaselineAdminNetworkPolicy / ClusterNetworkPolicy",
        F::Calico => "Calico (Global)NetworkPolicy, (Global)NetworkSet, Tier",
        F::Squid => "Squid squid.conf (http_access, ssl_bump)",
        F::AwsNfw => "AWS Network Firewall domain-list rule groups",
        F::Route53 => "Route 53 Resolver DNS Firewall rule groups",
        F::Nginx => "nginx nginx.conf (stream ssl_preread maps, http server_name)",
        F::Haproxy => "HAProxy haproxy.cfg (frontends' SNI and Host rules)",
        F::Envoy => "Envoy static bootstrap (listeners' SNI and Host decisions)",
        F::Swp => "Google Cloud Secure Web Proxy rules and URL lists",
        _ => "an import format (docs/import.md)",
    }
}

/// `--via` values, parsed by [`hostgate::Via`]'s `FromStr`; listed here for their help lines.
pub fn via_parser() -> impl TypedValueParser<Value = hostgate::Via> {
    PossibleValuesParser::new([
        PossibleValue::new("tls").help("TLS SNI (also QUIC)"),
        PossibleValue::new("http").help("HTTP Host or absolute-form target"),
        PossibleValue::new("connect").help("HTTP CONNECT authority"),
        PossibleValue::new("dns").help("DNS question"),
    ])
    .try_map(|s| s.parse::<hostgate::Via>())
}

#[derive(Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One human-readable line per name
    #[default]
    Text,
    /// One JSON object per line
    Json,
}

/// Why the job could not be done: printed to stderr as is, then exit 2.
pub struct Failure(pub String);

impl Failure {
    /// A one-line message about the command itself (not tied to a policy line).
    pub fn msg(text: impl std::fmt::Display) -> Self {
        Failure(format!("hostgate: {text}\n"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut differ = false;
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Explain(args) => explain::run(args),
        Command::SquidHelper(args) => squid::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Import(args) => import::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Dns(args) => dns(args),
        Command::Completions(args) => docs::completions(args, Cli::command()),
        Command::Man => docs::man(Cli::command()),
        Command::Diff(args) => diff::run(args).map(|agree| {
            if !agree {
                differ = true;
            }
        }),
    };
    match result {
        Ok(()) if differ => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(text)) => {
            eprint!("{text}");
            ExitCode::from(2)
        }
    }
}

/// The `Examples:` block of each subcommand's help. The file names are the repository's example
/// files (tests/help.rs runs every line against them from the repository root).
mod examples {
    pub const CHECK: &str = "\
Examples:
  hostgate check --policy egress.policy api.kadath.io checkout.stripe.com
  hostgate check --policy egress.policy --policy-name payments --port 443 --via tls api.stripe.com
  hostgate check --policy egress.policy --format json < names.txt
  hostgate check --from cilium --policy cnp.yaml --port 443 --via tls api.stripe.com";

    pub const EXPLAIN: &str = "\
Examples:
  hostgate explain --policy egress.policy api.leng.com
  hostgate explain --policy egress.policy --policy-name payments --port 443 hooks-eu.stripe.com
  hostgate explain --policy egress.policy --format json --port 443 --via tls checkout.stripe.com";

    pub const INSPECT: &str = "\
Examples:
  hostgate inspect clienthello.bin
  hostgate inspect --policy egress.policy --port 443 --format json clienthello.bin
  hostgate inspect --expect dns-udp query.bin
  hostgate inspect --pcap capture.pcapng --policy egress.policy";

    pub const SQUID_HELPER: &str = "\
Examples:
  hostgate squid-helper --concurrency --policy egress.policy
  # in squid.conf:
  # external_acl_type hostgate ttl=0 concurrency=16 %DST %PORT %METHOD \\
  #     /usr/local/bin/hostgate squid-helper --concurrency --policy /etc/hostgate/egress.policy";

    pub const DIFF: &str = "\
Examples:
  hostgate diff before.policy after.policy
  hostgate diff --port 443 --via tls egress.policy#default egress.policy#payments
  hostgate diff --format json squid:squid.conf cilium:cnp.yaml";

    pub const IMPORT: &str = "\
Examples:
  hostgate import --from cilium cnp.yaml
  hostgate import --from squid squid.conf -o imported.policy";

    pub const COMPILE: &str = "\
Examples:
  hostgate compile --policy egress.policy -o egress.engine
  hostgate check --policy egress.engine api.kadath.io
  hostgate compile --from cilium --policy cnp.yaml -o cnp.engine";

    pub const DNS: &str = "\
Examples:
  hostgate dns --listen 127.0.0.1:5353 --upstream 1.1.1.1:53 --policy egress.policy
  hostgate dns --listen 127.0.0.1:5353 --upstream 1.1.1.1:53 --policy egress.policy \\
      --client 10.0.1.0/24=ci-runners --deny-response refused";

    pub const COMPLETIONS: &str = "\
Examples:
  hostgate completions bash > /usr/share/bash-completion/completions/hostgate
  hostgate completions zsh > ~/.zfunc/_hostgate
  hostgate completions fish > ~/.config/fish/completions/hostgate.fish";

    pub const MAN: &str = "\
Examples:
  hostgate man | man -l -
  hostgate man > /usr/local/share/man/man1/hostgate.1";
}
