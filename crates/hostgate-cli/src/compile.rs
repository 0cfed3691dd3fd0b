//! `hostgate compile`: compile a policy once into an engine file that every front end's
//! `--policy` opens without compiling (`docs/engine-file.md`).

use std::path::PathBuf;

use clap::Args;
use hostgate::PolicySource;

use crate::import::ImportFlags;
use crate::Failure;

#[derive(Args)]
pub struct CompileArgs {
    /// The policy file (an engine file is checked and written again)
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The policy file's format: hostgate, or an imported one (cilium, gke)
    #[arg(long = "from", value_name = "FORMAT", default_value = "hostgate", value_parser = crate::format_parser())]
    pub from: hostgate::Format,
    #[command(flatten)]
    pub import: ImportFlags,
    /// The engine file to write; written whole to a temporary file beside it, then renamed
    /// over it, so a reader never sees part of one
    #[arg(short = 'o', long = "output", value_name = "ENGINE")]
    pub output: PathBuf,
}

/// Compiles (or imports), prints the warnings to stderr, writes the engine file, and prints
/// one line saying what was written.
pub fn run(args: CompileArgs) -> Result<(), Failure> {
    let options = args.import.options()?;
    let source = PolicySource::read(&args.policy).map_err(failure)?;
    let loaded = hostgate_import::load_with(&source.clone().with_format(args.from), &options)
        .map_err(failure)?;
    for w in loaded.warnings() {
        eprintln!("{w}");
    }
    let engine = loaded.engine();
    let bytes = engine.to_bytes_with_source(source.origin(), source.bytes());
    hostgate_map::write(&args.output, &bytes)
        .map_err(|e| Failure::msg(format!("cannot write {}: {e}", args.output.display())))?;
    let rules: u32 = engine.policies().map(|(p, _)| engine.rule_count(p)).sum();
    println!(
        "{}: {} policies, {rules} rules, {} bytes",
        args.output.display(),
        engine.policies().len(),
        bytes.len()
    );
    Ok(())
}

fn failure(e: hostgate::LoadError) -> Failure {
    if e.is_positioned() {
        Failure(format!("{e}\n"))
    } else {
        Failure::msg(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueryArgs;
    use hostgate::{Format, Query};

    fn args(policy: &std::path::Path, from: Format, output: &std::path::Path) -> CompileArgs {
        CompileArgs {
            policy: policy.to_path_buf(),
            from,
            import: ImportFlags::default(),
            output: output.to_path_buf(),
        }
    }

    fn query_args(policy: &std::path::Path) -> QueryArgs {
        QueryArgs {
            policy: policy.to_path_buf(),
            from: Format::Hostgate,
            import: ImportFlags::default(),
            policy_name: None,
            port: None,
            via: None,
        }
    }

    #[test]
    fn the_engine_file_answers_as_its_text_through_the_policy_flag() {
        let dir = std::env::temp_dir().join(format!("hostgate-compile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("web.policy");
        std::fs::write(
            &text,
            "default deny\nallow .kadath.io\ndeny api.kadath.io id no-api\n",
        )
        .unwrap();
        let out = dir.join("web.engine");
        run(args(&text, Format::Hostgate, &out))
            .map_err(|f| f.0)
            .unwrap();
        let info = hostgate::EngineFileInfo::read(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(info.source_name, text.display().to_string());

        let from_text = crate::load::load(&query_args(&text))
            .map_err(|f| f.0)
            .unwrap();
        let from_file = crate::load::load(&query_args(&out))
            .map_err(|f| f.0)
            .unwrap();
        assert!(from_file.engine.is_shared(), "mapped, not copied");
        for name in ["api.kadath.io", "www.kadath.io", "kadath.io", "leng.com"] {
            let q = Query::new(name);
            let a = from_text.engine.check(from_text.policy, &q);
            let b = from_file.engine.check(from_file.policy, &q);
            assert_eq!(a.action, b.action, "{name}");
            assert_eq!(
                a.rule.map(|r| (r.id().to_string(), r.line())),
                b.rule.map(|r| (r.id().to_string(), r.line()))
            );
        }
        // A cut file: refused, naming the file.
        let bytes = std::fs::read(&out).unwrap();
        let cut = dir.join("cut.engine");
        std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
        let err = crate::load::load(&query_args(&cut)).err().unwrap().0;
        assert!(
            err.starts_with(&format!("hostgate: {}: engine file is ", cut.display())),
            "{err}"
        );
        // A text that does not compile writes nothing.
        let bad = dir.join("bad.policy");
        std::fs::write(&bad, "allow a..b\n").unwrap();
        let not = dir.join("not.engine");
        let err = run(args(&bad, Format::Hostgate, &not)).err().unwrap().0;
        assert!(err.contains("bad.policy:1:9:"), "{err}");
        assert!(!not.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_imported_format_compiles_to_an_engine_file() {
        let dir = std::env::temp_dir().join(format!("hostgate-compile-gke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = dir.join("p.yaml");
        std::fs::write(
            &yaml,
            "apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a, namespace: n}\nspec:\n  egress:\n  - matches: [{name: api.kadath.io}]\n",
        )
        .unwrap();
        let out = dir.join("p.engine");
        run(args(&yaml, Format::Gke, &out))
            .map_err(|f| f.0)
            .unwrap();
        let mut qa = query_args(&out);
        qa.from = Format::Gke; // ignored for an engine file
        let loaded = crate::load::load(&qa).map_err(|f| f.0).unwrap();
        let q = Query::new("api.kadath.io")
            .port(443)
            .via(hostgate::Via::Tls);
        assert!(loaded.engine.check(loaded.policy, &q).is_allow());
        assert!(!loaded
            .engine
            .check(loaded.policy, &Query::new("leng.com").port(443))
            .is_allow());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
