//! `hostgate-dns`: a forwarding DNS server that answers by hostgate policy. Everything is in
//! the library (`hostgate_dns`); this is its command line.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "hostgate-dns",
    about = "Forwarding DNS server: allowed names go to the upstream, denied ones are answered locally",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    args: hostgate_dns::Args,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = hostgate_dns::run(cli.args.into_config()).await {
        match e {
            hostgate_dns::Error::Policy(e) => eprintln!("hostgate-dns: policy refused:\n{e}"),
            e => eprintln!("hostgate-dns: {e}"),
        }
        std::process::exit(2);
    }
}
