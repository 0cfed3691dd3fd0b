//! Loading `--policy` through the one loading path (`hostgate_import::load`: the core for
//! hostgate's language and engine files, the importers for the others), and choosing the policy
//! to ask.

use hostgate::{Engine, Format, PolicyId};

use crate::{Failure, QueryArgs};

pub struct Loaded {
    pub engine: Engine,
    pub policy: PolicyId,
    /// The file, as given: what diagnostics and `diff`'s witnesses name.
    pub origin: String,
}

impl Loaded {
    pub fn policy_name(&self) -> &str {
        self.engine.policy_name(self.policy).unwrap_or("")
    }
}

/// Compiles `--policy`, prints its warnings to stderr, and resolves `--policy-name`.
///
/// `--policy` also takes the `[FORMAT:]FILE[#POLICY]` form of `diff`'s operands, so a witness
/// can be explained on each side with the operand as printed; a prefix or `#POLICY` that
/// contradicts `--from` or `--policy-name` is a usage error.
pub fn load(args: &QueryArgs) -> Result<Loaded, Failure> {
    let options = args.import.options()?;
    let (format, file, policy_name) = match args.policy.to_str() {
        Some(operand) => {
            let (prefix, file, name) = split_operand(operand);
            let format = match prefix {
                Some(f) if args.from != Format::default() && f != args.from => {
                    return Err(Failure::msg(format!(
                        "--policy {operand} says format `{f}` but --from says `{}`",
                        args.from
                    )))
                }
                Some(f) => f,
                None => args.from,
            };
            let name = match (name, args.policy_name.as_deref()) {
                (Some(a), Some(b)) if a != b => {
                    return Err(Failure::msg(format!(
                        "--policy {operand} names policy `{a}` but --policy-name says `{b}`"
                    )))
                }
                (a, b) => a.or(b),
            };
            (format, std::path::PathBuf::from(file), name)
        }
        None => (args.from, args.policy.clone(), args.policy_name.as_deref()),
    };
    open(&file, format, policy_name, &options)
}

/// The file `--policy` names, without the operand form's `FORMAT:` and `#POLICY`.
pub fn policy_file(args: &QueryArgs) -> std::path::PathBuf {
    match args.policy.to_str() {
        Some(operand) => std::path::PathBuf::from(split_operand(operand).1),
        None => args.policy.clone(),
    }
}

/// Reads, compiles or imports, prints the warnings to stderr, and picks the policy.
fn open(
    file: &std::path::Path,
    format: Format,
    policy_name: Option<&str>,
    options: &hostgate_import::Options,
) -> Result<Loaded, Failure> {
    // Engine files are mapped (shared with every process that opens them), text is read.
    let loaded = hostgate_map::read_source(file)
        .and_then(|source| hostgate_import::load_with(&source.with_format(format), options))
        .map_err(failure)?;
    for w in loaded.warnings() {
        eprintln!("{w}");
    }
    let policy = loaded.select(policy_name).map_err(failure)?;
    Ok(Loaded {
        origin: loaded.origin().to_string(),
        engine: loaded.into_engine(),
        policy,
    })
}

/// Positioned errors print as compilers print them; the others as `hostgate: message`.
fn failure(e: hostgate::LoadError) -> Failure {
    if e.is_positioned() {
        Failure(format!("{e}\n"))
    } else {
        Failure::msg(e)
    }
}

/// Splits `[FORMAT:]FILE[#POLICY]`. The prefix is a format only when it names one, so a file
/// whose name has a colon still works; the policy is what follows the last `#`.
fn split_operand(operand: &str) -> (Option<Format>, &str, Option<&str>) {
    let (format, rest) = match operand.split_once(':') {
        Some((f, rest)) => match f.parse::<Format>() {
            Ok(format) => (Some(format), rest),
            Err(_) => (None, operand),
        },
        None => (None, operand),
    };
    match rest.rsplit_once('#') {
        Some((file, policy)) if !policy.is_empty() => (format, file, Some(policy)),
        Some((file, _)) => (format, file, None),
        None => (format, rest, None),
    }
}

/// Loads a `[FORMAT:]FILE[#POLICY]` operand (`diff`), with the importers' default options.
pub fn load_operand(operand: &str) -> Result<Loaded, Failure> {
    let (format, file, policy) = split_operand(operand);
    open(
        std::path::Path::new(file),
        format.unwrap_or_default(),
        policy,
        &hostgate_import::Options::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_split_into_format_file_and_policy() {
        let h = Some(Format::Hostgate);
        assert_eq!(split_operand("a.policy"), (None, "a.policy", None));
        assert_eq!(
            split_operand("hostgate:a.policy#p"),
            (h, "a.policy", Some("p"))
        );
        assert_eq!(
            split_operand("dir/x:y.policy"),
            (None, "dir/x:y.policy", None)
        );
        assert_eq!(split_operand("a.policy#"), (None, "a.policy", None));
        assert_eq!(
            split_operand("a#b.policy#c"),
            (None, "a#b.policy", Some("c"))
        );
        assert_eq!(
            split_operand("cilium:cnp.yaml"),
            (Some(Format::Cilium), "cnp.yaml", None)
        );
    }
}
