//! What the config importers' tests share: a verdict of an imported policy, and the case
//! tables (`tests/data/SYSTEM/cases.tsv`: config, name, port, via, expected, why) that the
//! differential suites also run against the real programs. (Each test binary compiles this
//! module; not every one uses every item.)
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options};

/// The action the imported policy `default` gives a query.
pub fn verdict(i: &Imported, name: &str, port: u16, via: Via) -> Action {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    e.check(p, &Query::new(name).port(port).via(via)).action
}

/// Checks every row of `DATA/cases.tsv`: the config `DATA/configs/CONFIG{ext}` imported as
/// `format` gives the expected action, and so does its rendered policy text. Returns the
/// configs the table uses, after checking it has at least `min` rows.
pub fn case_table(format: Format, data: &str, ext: &str, min: usize) -> BTreeSet<String> {
    let table = std::fs::read_to_string(Path::new(data).join("cases.tsv")).unwrap();
    let mut checked = 0;
    let mut configs = BTreeSet::new();
    for (n, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() >= 5, "cases.tsv:{}: {line}", n + 1);
        let path = Path::new(data)
            .join("configs")
            .join(format!("{}{ext}", f[0]));
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let i = import(format, &[(&name, &bytes)], &Options::default())
            .unwrap_or_else(|e| panic!("{}: {e:?}", f[0]));
        let via: Via = f[3].parse().unwrap();
        let want: Action = f[4].parse().unwrap();
        let port: u16 = f[2].parse().unwrap();
        assert_eq!(
            verdict(&i, f[1], port, via),
            want,
            "cases.tsv:{}: {line}\n{}",
            n + 1,
            render(&i)
        );
        // The rendered policy text decides the same.
        let text = hostgate::Engine::compile(&render(&i)).unwrap();
        let p = text.policy("default").unwrap();
        let q = Query::new(f[1]).port(port).via(via);
        assert_eq!(text.check(p, &q).action, want, "rendered, {line}");
        configs.insert(f[0].to_string());
        checked += 1;
    }
    assert!(checked >= min, "{checked} cases");
    configs
}

/// Every file of `DATA/configs`, named by `name_of`, is used by the table.
pub fn every_config_has_cases(
    data: &str,
    configs: &BTreeSet<String>,
    name_of: fn(&Path) -> String,
) {
    for entry in std::fs::read_dir(Path::new(data).join("configs")).unwrap() {
        let name = name_of(&entry.unwrap().path());
        assert!(configs.contains(&name), "{name} has no cases");
    }
}

/// A config's name in a table that leaves out its extension.
pub fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().to_string()
}
