//! Reading and compiling the policy file, and choosing the policy to ask.

use hostgate::{Engine, PolicyId};

use crate::{Failure, QueryArgs};

pub struct Loaded {
    pub engine: Engine,
    pub policy: PolicyId,
}

impl Loaded {
    pub fn policy_name(&self) -> &str {
        self.engine.policy_name(self.policy).unwrap_or("")
    }
}

/// Compiles `--policy`, prints its warnings to stderr, and resolves `--policy-name`.
pub fn load(args: &QueryArgs) -> Result<Loaded, Failure> {
    let file = args.policy.display().to_string();
    let bytes = std::fs::read(&args.policy)
        .map_err(|e| Failure::msg(format!("cannot read policy file {file}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Point at the bad byte like a compile error would, so editors can jump to it.
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        Failure(format!(
            "{file}:{line}:{column}: policy file is not UTF-8 text\n"
        ))
    })?;
    let engine = Engine::compile(&text).map_err(|errs| Failure(errs.render(&file)))?;
    for w in engine.warnings() {
        eprintln!("{}", w.render(&file));
    }
    let policy = match &args.policy_name {
        Some(name) => engine.policy(name).ok_or_else(|| {
            Failure::msg(format!(
                "no policy named `{name}` in {file}; available: {}",
                engine
                    .policies()
                    .map(|(_, n)| n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        // The implicit policy when the file has one, else the first named one.
        None => engine.policy("default").unwrap_or(PolicyId::from_index(0)),
    };
    Ok(Loaded { engine, policy })
}
