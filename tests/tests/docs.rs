//! The front door and the guide: the README fits on a screen and holds no figure typed by
//! hand, every `kong.conf` block of the README and the guide is what `pluginhost kong-conf`
//! prints, and the guide's summary lists every page.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use kong_sim::{paths, snippets};

fn read(path: &str) -> String {
    std::fs::read_to_string(paths::workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn guide_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(paths::workspace().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The lines of `markdown` outside fenced blocks.
fn prose(markdown: &str) -> Vec<&str> {
    let mut fenced = false;
    markdown
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read("README.md");
    assert!(
        readme.lines().count() <= 250,
        "{} lines",
        readme.lines().count()
    );
    for line in prose(&readme) {
        assert!(
            line.chars().count() <= 100,
            "a line over 100 characters: {line}"
        );
    }
    // It starts with the two commands.
    let first = &snippets::blocks(&readme)[0];
    assert_eq!(first.info, "sh");
    let commands: Vec<&str> = first
        .code
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .map(|c| {
            if c == "make run" {
                "make run"
            } else if c == "make test" {
                "make test"
            } else {
                "?"
            }
        })
        .collect();
    assert_eq!(commands, ["make run", "make test"]);
    // It speaks of the project, never of its issues, and copies no measured figure: those
    // live in the generated report.
    for line in prose(&readme) {
        let lower = line.to_lowercase();
        assert!(!lower.contains("issue"), "{line}");
        for unit in ["events/s", "µs", "mib", " ms"] {
            let typed = lower.match_indices(unit).any(|(at, _)| {
                lower[..at]
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_digit())
            });
            assert!(!typed, "a figure typed by hand: {line}");
        }
    }
}

#[test]
fn the_summary_lists_every_page_of_the_guide() {
    let summary = read("docs/src/SUMMARY.md");
    let listed: BTreeSet<String> = summary
        .match_indices("](")
        .map(|(at, _)| {
            let rest = &summary[at + 2..];
            rest[..rest.find(')').unwrap()].to_owned()
        })
        .collect();
    let pages: BTreeSet<String> = guide_pages()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|p| p != "SUMMARY.md")
        .collect();
    assert_eq!(listed, pages);
}

/// Runs `pluginhost kong-conf` for what `block` (its output, with the paths a reader would
/// use) says it is, on real files at scratch paths, and maps the paths back.
fn regenerated(block: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let first = block.lines().next().unwrap();
    let version = first
        .strip_prefix("# Kong ")
        .and_then(|r| r.split([' ', ':']).next())
        .unwrap();
    let value = |key_end: &str| {
        block
            .lines()
            .filter(|l| l.split(" = ").next().is_some_and(|k| k.ends_with(key_end)))
            .map(|l| l.split_once(" = ").unwrap().1.to_owned())
            .collect::<Vec<_>>()
    };
    let plugins: Vec<String> = value("plugins")[0]
        .split(',')
        .skip(1)
        .map(str::to_owned)
        .collect();
    let mut args: Vec<String> = vec!["kong-conf".into(), "-kong-version".into(), version.into()];
    if block.contains("-protocol ProtoBuf:1") {
        args.extend(["-protocol".into(), "ProtoBuf:1".into()]);
    }
    let mut back: Vec<(String, String)> = Vec::new();
    if first.contains("embedded server") {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        args.extend([
            "-kong-prefix".into(),
            "/usr/local/kong".into(),
            "-embedded".into(),
        ]);
        for (start, plugin) in value("_start_cmd").iter().zip(&plugins) {
            let exe = start.split(' ').next().unwrap();
            let (shown_dir, file) = exe.rsplit_once('/').unwrap();
            std::fs::copy(paths::embedded(plugin), bin.join(file)).unwrap();
            args.push(bin.join(file).display().to_string());
            back.push((bin.display().to_string(), shown_dir.to_owned()));
        }
    } else {
        let plugins_dir = dir.join("plugins");
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for plugin in &plugins {
            std::fs::copy(
                paths::plugin(plugin),
                plugins_dir.join(format!("{plugin}.so")),
            )
            .unwrap();
        }
        let shown_dir = value("go_plugins_dir")
            .into_iter()
            .chain(value("_start_cmd").iter().filter_map(|l| {
                l.split(" -plugins-directory ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .map(str::to_owned)
            }))
            .next()
            .unwrap();
        let exe = value("go_pluginserver_exe")
            .into_iter()
            .chain(
                value("_start_cmd")
                    .iter()
                    .map(|l| l.split(' ').next().unwrap().to_owned()),
            )
            .next()
            .unwrap();
        args.extend([
            "-plugins-directory".into(),
            plugins_dir.display().to_string(),
            "-kong-prefix".into(),
            "/usr/local/kong".into(),
            "-pluginhost".into(),
            exe,
        ]);
        back.push((plugins_dir.display().to_string(), shown_dir));
    }
    let out = Command::new(paths::pluginhost())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::from_utf8(out.stdout).unwrap();
    for (real, shown) in back {
        text = text.replace(&real, &shown);
    }
    text
}

#[test]
fn every_kong_conf_block_is_what_kong_conf_prints() {
    let mut files = vec![paths::workspace().join("README.md")];
    files.extend(guide_pages());
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for block in snippets::blocks(&text) {
            if !block.code.starts_with("# Kong ") {
                continue;
            }
            assert_eq!(
                regenerated(&block.code),
                block.code,
                "{}: a kong.conf block that `pluginhost kong-conf` does not print",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} kong.conf blocks found");
}

/// `{{#include path}}` and `{{#include path:anchor}}` of mdBook: what the guide quotes from the
/// code must exist, so that the page shows the code the tests build.
#[test]
fn every_include_of_the_guide_quotes_code_that_exists() {
    let mut quoted = 0;
    for page in guide_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for include in text.split("{{#include ").skip(1) {
            let target = include.split("}}").next().unwrap();
            let (path, anchor) = match target.rsplit_once(':') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target, None),
            };
            let file = page.parent().unwrap().join(path);
            let code = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: includes {}: {e}", page.display(), file.display()));
            if let Some(anchor) = anchor {
                for marker in [format!("ANCHOR: {anchor}"), format!("ANCHOR_END: {anchor}")] {
                    assert!(code.contains(&marker), "{}: no `{marker}`", file.display());
                }
            }
            quoted += 1;
        }
    }
    assert!(quoted >= 2, "only {quoted} includes found");
}
