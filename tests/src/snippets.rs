//! The code a plugin author copies: the fenced blocks of a Markdown page (the guide's
//! walk-through) and the examples of Rust doc comments, read the way a reader (and rustdoc)
//! reads them, so that tests can run them as written.

/// A fenced block: its info string (`sh`, `rust`, `` for none) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The words after the opening fence.
    pub info: String,
    /// The lines between the fences, each ending with a newline.
    pub code: String,
}

/// The fenced blocks of `markdown`, in order.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    code: String::new(),
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.extend(open.take()),
            (Some(block), _) => {
                block.code.push_str(line);
                block.code.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The guide's walk-through as one bash script: `sh` blocks as they are, and each `rust`
/// block whose first line names its file (`// src/lib.rs`) written to that file.
pub fn walkthrough_script(section: &str) -> String {
    let mut script = String::new();
    for block in blocks(section) {
        match block.info.as_str() {
            "sh" => script.push_str(&block.code),
            "rust" => {
                let Some(file) = block
                    .code
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("// "))
                    .filter(|f| f.ends_with(".rs") && !f.contains(' '))
                else {
                    continue;
                };
                script.push_str(&format!(
                    "cat > '{file}' <<'README_SNIPPET_END'\n{}README_SNIPPET_END\n",
                    block.code
                ));
            }
            _ => {}
        }
    }
    script
}

/// One doc example: where it is, and the program rustdoc would compile from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocExample {
    /// The line of its opening fence (1-based).
    pub line: usize,
    /// The code with hidden lines shown, wrapped in `fn main` unless it has one.
    pub program: String,
}

/// The examples of the doc comments (`///`, `//!`) of a Rust source file that rustdoc
/// compiles: fences with no info string or only Rust ones (`rust`, `no_run`, `should_panic`,
/// `standalone_crate`, `edition…`); `ignore`, `compile_fail`, `text` and other languages are
/// skipped, as rustdoc does.
pub fn doc_examples(source: &str) -> Vec<DocExample> {
    let mut examples = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (index, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(doc) = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
        else {
            if open.is_some() {
                open = None;
            }
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        match (&mut open, doc.trim_start().strip_prefix("```")) {
            (None, Some(info)) => open = Some((index + 1, compiled(info), String::new())),
            (Some(_), Some(_)) => {
                if let Some((line, true, code)) = open.take() {
                    let program = if code.contains("fn main") {
                        code
                    } else {
                        format!("fn main() {{\n{code}}}\n")
                    };
                    examples.push(DocExample { line, program });
                }
            }
            (Some((_, _, code)), None) => {
                code.push_str(hidden_shown(doc));
                code.push('\n');
            }
            (None, None) => {}
        }
    }
    examples
}

fn compiled(info: &str) -> bool {
    info.split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .all(|word| {
            matches!(
                word,
                "rust" | "no_run" | "should_panic" | "standalone_crate"
            ) || word.starts_with("edition")
        })
}

/// A doc line with rustdoc's hiding undone: `# code` is code, `##` an escaped `#`.
fn hidden_shown(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed == "#" {
        ""
    } else if let Some(rest) = trimmed.strip_prefix("# ") {
        rest
    } else if trimmed.starts_with("##") {
        &trimmed[1..]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walkthrough_runs_shell_and_writes_named_files() {
        let md = "```sh\ncargo new x\n```\n```rust\n// src/lib.rs\nfn f() {}\n```\n\
                  ```rust\nlet not_a_file = 1;\n```\n```\nkong.conf line\n```\n";
        assert_eq!(
            walkthrough_script(md),
            "cargo new x\ncat > 'src/lib.rs' <<'README_SNIPPET_END'\n// src/lib.rs\nfn f() {}\n\
             README_SNIPPET_END\n"
        );
    }

    #[test]
    fn doc_examples_as_rustdoc_compiles_them() {
        let src = "/// Text.\n///\n/// ```\n/// # use a::b;\n/// let x = 1;\n/// ```\n\
                   /// ```text\n/// not code\n/// ```\n//! ```no_run\n//! fn main() {}\n//! ```\n\
                   /// ```compile_fail\n/// nope\n/// ```\nfn item() {}\n";
        let examples = doc_examples(src);
        assert_eq!(examples.len(), 2, "{examples:?}");
        assert_eq!(examples[0].line, 3);
        assert_eq!(
            examples[0].program,
            "fn main() {\nuse a::b;\nlet x = 1;\n}\n"
        );
        assert_eq!(examples[1].program, "fn main() {}\n");
    }
}
