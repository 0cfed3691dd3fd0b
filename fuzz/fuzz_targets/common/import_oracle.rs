//! The oracle the config importers' fuzz targets share (included with `#[path]`): an import of
//! arbitrary bytes never panics; every error and warning names the input file and points
//! inside it (line from 1 to one past its last line break; column from 1); an import that
//! succeeds renders to hostgate text that compiles with the same number of rules, each rule's
//! line inside the input, and — when queries are given — decides the same as the imported
//! engine on the names given. Each target keeps only how it builds its input and picks names.

use hostgate::{Format, Query, Via};
use hostgate_import::{import, render, ImportDiagnostic, Options};

/// Line breaks as the given reader counts them: `\n` only, or (YAML, and so JSON and HCL read
/// through it) `\n`, `\r\n` and a lone `\r`.
pub fn line_breaks(data: &[u8], yaml: bool) -> u32 {
    if !yaml {
        return data.iter().filter(|&&b| b == b'\n').count() as u32;
    }
    data.iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count() as u32
}

fn check(d: &ImportDiagnostic, file: &str, lines: u32) {
    assert_eq!(d.file, file, "{d}");
    assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

/// Imports `data` as `file` in `format` and holds the result to the oracle above; `names`
/// are asked on every `(port, via)` of `queries`, of the rendered and the imported engine.
pub fn import_holds<'n>(
    format: Format,
    file: &str,
    data: &[u8],
    options: &Options,
    lines: u32,
    names: impl IntoIterator<Item = &'n str>,
    queries: &[(u16, Via)],
) {
    match import(format, &[(file, data)], options) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                check(e, file, lines);
            }
        }
        Ok(imported) => {
            for w in imported.warnings() {
                check(w, file, lines);
            }
            let text = render(&imported);
            let engine = hostgate::Engine::compile(&text)
                .unwrap_or_else(|e| panic!("rendered policy does not compile: {e}\n{text}"));
            let policy = engine.policy("default").expect("policy default");
            assert_eq!(
                engine.rule_count(policy) as usize,
                imported.policies()[0].rules.len()
            );
            for s in imported.sources() {
                assert!(s.line >= 1 && s.line <= lines + 1);
            }
            if queries.is_empty() {
                return;
            }
            let direct = imported.engine();
            let dp = direct.policy("default").expect("policy default");
            for name in names {
                for &(port, via) in queries {
                    let q = Query::new(name).port(port).via(via);
                    assert_eq!(
                        engine.check(policy, &q).action,
                        direct.check(dp, &q).action,
                        "{name} {via:?}\n{text}"
                    );
                }
            }
        }
    }
}
