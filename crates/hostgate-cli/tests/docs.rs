//! `hostgate completions` and `hostgate man`: made from the same definitions as `--help`, so
//! every subcommand `--help` lists is completed by bash and named in the man page.

use std::process::Command;

fn hostgate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `hostgate --help` lists.
fn subcommands() -> Vec<String> {
    let help = hostgate(&["--help"]);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn bash_completes_every_subcommand_and_flag() {
    let subs = subcommands();
    assert!(subs.len() >= 9, "{subs:?}");
    let script = hostgate(&["completions", "bash"]);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostgate.bash");
    std::fs::write(&path, &script).unwrap();
    // Ask bash itself: source the script, complete `hostgate <TAB>` and `hostgate check --po<TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(hostgate ''); COMP_CWORD=1; _hostgate hostgate '' hostgate; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"; echo --; \
         COMP_WORDS=(hostgate check --po); COMP_CWORD=2; _hostgate hostgate --po check; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (first, second) = text.split_once("--\n").expect("two answers");
    let offered: Vec<&str> = first.lines().collect();
    for s in &subs {
        assert!(
            offered.contains(&s.as_str()),
            "bash does not offer {s}: {offered:?}"
        );
    }
    let flags: Vec<&str> = second.lines().collect();
    assert!(
        flags.contains(&"--policy") && flags.contains(&"--port"),
        "{flags:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    let subs = subcommands();
    for shell in ["zsh", "fish"] {
        let script = hostgate(&["completions", shell]);
        for s in &subs {
            assert!(script.contains(s.as_str()), "{shell}: {s}");
        }
    }
    assert!(hostgate(&["completions", "zsh"]).starts_with("#compdef hostgate"));
    assert!(hostgate(&["completions", "fish"]).contains("complete -c hostgate"));
}

#[test]
fn the_man_page_renders_and_lists_every_subcommand() {
    let page = hostgate(&["man"]);
    assert!(page.contains(".TH hostgate 1"), "{}", &page[..200]);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostgate.1");
    std::fs::write(&path, &page).unwrap();
    // Rendered by man(1) where it is installed; else the roff source is checked.
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let text = rendered.as_deref().unwrap_or(&page);
    for s in subcommands() {
        assert!(
            text.contains(&format!("hostgate-{s}")),
            "man page lacks {s}"
        );
    }
    assert!(text.contains("Allow/deny verdicts for destination host names"));
}
