//! The nil tables of the PDK's docs, read as data. Two suites check them (the PDK's own tests
//! and the conformance tests of both dialects, which include this file by path), so they read
//! the tables one way.

use std::collections::BTreeMap;

/// What Kong's nil gives a plugin, in the words of a nil table's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NilMeans {
    /// `Ok(None)`.
    Absent,
    /// `Err(PdkError::NoValue)`.
    NoValue,
    /// `Ok(())`.
    Done,
    /// The zero of the answer's message (ProtoBuf:1 cannot send nil).
    Zero,
    /// `Err(PdkError::Host)`: the dialect has no such method.
    Refused,
}

/// The table whose rows start `| {table} |` in `docs` (`"nil"` or `"nil, ProtoBuf:1"`): each
/// PDK method named in it → what nil means for it. A row this reader does not know, or a method
/// in two rows, fails the test that reads it.
pub fn read(docs: &str, table: &str) -> BTreeMap<String, NilMeans> {
    let prefix = format!("//! | {table} | ");
    let mut read = BTreeMap::new();
    for row in docs.lines().filter_map(|l| l.strip_prefix(prefix.as_str())) {
        let meaning = row.split(" | ").next().unwrap_or_default();
        let means = [
            ("`Ok(None)`", NilMeans::Absent),
            ("`Err(PdkError::NoValue)`", NilMeans::NoValue),
            ("`Ok(())`", NilMeans::Done),
            ("the zero of the answer's message", NilMeans::Zero),
            ("`Err(PdkError::Host)`", NilMeans::Refused),
        ]
        .into_iter()
        .find(|(start, _)| meaning.starts_with(start))
        .map(|(_, means)| means)
        .unwrap_or_else(|| panic!("a {table} row this reader does not know: {meaning}"));
        let (_, functions) = row
            .trim_end_matches(" |")
            .rsplit_once(" | ")
            .expect("a functions column");
        for method in functions.split(", ") {
            let method = method.trim_matches('`').to_owned();
            assert!(
                read.insert(method.clone(), means).is_none(),
                "{method} is in two rows of the {table} table"
            );
        }
    }
    assert!(!read.is_empty(), "no row of a {table} table in the docs");
    read
}
