//! `hostgate import`: read another system's egress policies (docs/import.md) and print the equivalent
//! hostgate policy.

use std::path::PathBuf;

use clap::Args;
use hostgate_import::{CiliumVersion, Options};

use crate::Failure;

/// How imported formats are read: shared by `import` and every front end that takes
/// `--policy`.
#[derive(Args, Clone, Default)]
pub struct ImportFlags {
    /// With an imported format: only the objects that select this workload,
    /// `[NAMESPACE/]KEY=VALUE[,KEY=VALUE…]` [default: every object applies]
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Option<hostgate_import::Workload>,
    /// With --workload: the labels of its namespace, `KEY=VALUE[,KEY=VALUE…]`
    /// (`kubernetes.io/metadata.name` is implied)
    #[arg(long, value_name = "LABELS", requires = "workload")]
    pub namespace_labels: Option<String>,
    /// With an imported format: one policy per object, named `kind/namespace/name`, instead
    /// of one policy `default` combining them
    #[arg(long)]
    pub per_object: bool,
    /// With --from cilium: the Cilium release whose meaning is reproduced (a leading `**.` is
    /// one or more labels from 1.19, one label before)
    #[arg(long, value_name = "V", default_value_t = CiliumVersion::CURRENT)]
    pub cilium_version: CiliumVersion,
}

impl ImportFlags {
    /// The importer's options.
    pub fn options(&self) -> Result<Options, Failure> {
        let mut options = Options::default()
            .cilium_version(self.cilium_version)
            .per_object(self.per_object);
        if let Some(w) = &self.workload {
            let mut w = w.clone();
            if let Some(labels) = &self.namespace_labels {
                w = w
                    .with_namespace_labels(labels)
                    .map_err(|e| Failure::msg(format!("--namespace-labels: {e}")))?;
            }
            options = options.workload(w);
        }
        Ok(options)
    }
}

#[derive(Args)]
pub struct ImportArgs {
    /// The format the files are written in
    #[arg(long = "from", value_name = "FORMAT", value_parser = crate::format_parser())]
    from: hostgate::Format,
    #[command(flatten)]
    flags: ImportFlags,
    /// Write the policy here instead of standard output
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// The files: Kubernetes objects (YAML with one or more documents, `kind: List`, or JSON),
    /// or a proxy's configuration and the files it includes; all of them apply
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: ImportArgs) -> Result<(), Failure> {
    if args.from == hostgate::Format::Hostgate {
        return Err(Failure::msg(
            "--from hostgate: the file is already a hostgate policy",
        ));
    }
    let mut inputs = Vec::with_capacity(args.files.len());
    for f in &args.files {
        let name = f.display().to_string();
        let bytes = std::fs::read(f)
            .map_err(|e| Failure::msg(format!("cannot read policy file {name}: {e}")))?;
        inputs.push((name, bytes));
    }
    let files: Vec<(&str, &[u8])> = inputs
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let options = args.flags.options()?;
    let imported = hostgate_import::import(args.from, &files, &options)
        .map_err(|errors| Failure(errors.iter().map(|e| format!("{e}\n")).collect::<String>()))?;
    for w in imported.warnings() {
        eprintln!("{w}");
    }
    let text = hostgate_import::render(&imported);
    match &args.output {
        Some(out) => std::fs::write(out, text)
            .map_err(|e| Failure::msg(format!("cannot write {}: {e}", out.display())))?,
        None => print!("{text}"),
    }
    Ok(())
}
