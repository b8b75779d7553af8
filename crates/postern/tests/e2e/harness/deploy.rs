//! Reads the shipped configs from `deploy/` and swaps in this test's addresses. Only
//! addresses and ports change; every other line is tested exactly as a user copies it.

use super::peers::workspace_root;

pub fn read(relative: &str) -> String {
    let path = workspace_root().join("deploy").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replaces `from` with `to` in the one non-comment line containing it. Panics when there is
/// not exactly one such line: a changed deploy file must not silently leave the test
/// configuration pointing somewhere else.
pub fn replace_once(file: &str, text: &str, from: &str, to: &str) -> String {
    let is_comment = |line: &str| line.trim_start().starts_with('#');
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !is_comment(line) && line.contains(from))
        .map(|(index, _)| index)
        .collect();
    assert!(
        hits.len() == 1
            && text
                .lines()
                .nth(hits[0])
                .is_some_and(|line| line.matches(from).count() == 1),
        "deploy/{file}: expected `{from}` exactly once outside comments, found it on {} lines; \
         update the e2e harness to match the new file",
        hits.len()
    );
    let mut out: Vec<String> = text.lines().map(str::to_owned).collect();
    out[hits[0]] = out[hits[0]].replacen(from, to, 1);
    out.join("\n") + "\n"
}

/// Replaces `from` with `to` wherever it appears outside comments, and panics unless that is
/// exactly `times` lines (e.g. the two `listen 80;` of a file with two server blocks).
pub fn replace_every(file: &str, text: &str, from: &str, to: &str, times: usize) -> String {
    let is_comment = |line: &str| line.trim_start().starts_with('#');
    let found = text
        .lines()
        .filter(|line| !is_comment(line) && line.contains(from))
        .count();
    assert_eq!(
        found, times,
        "deploy/{file}: expected `{from}` on {times} lines outside comments, found {found}; \
         update the e2e harness to match the new file"
    );
    text.lines()
        .map(|line| {
            if is_comment(line) {
                line.to_owned()
            } else {
                line.replace(from, to)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Uncomments the commented block that starts with the line `# {first}` (at any indent): that
/// line and the following ones with the same comment prefix, as a user would. Panics unless
/// there is exactly one such block, so a reworded file cannot leave a variant untested.
pub fn uncomment(file: &str, text: &str, first: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| {
            line.trim_start()
                .strip_prefix("# ")
                .is_some_and(|rest| rest.trim_end() == first)
        })
        .map(|(index, _)| index)
        .collect();
    assert_eq!(
        starts.len(),
        1,
        "deploy/{file}: expected one commented block starting `# {first}`"
    );
    let start = starts[0];
    let indent = &lines[start][..lines[start].len() - lines[start].trim_start().len()];
    let prefix = format!("{indent}# ");
    let mut out: Vec<String> = lines[..start]
        .iter()
        .map(|line| (*line).to_owned())
        .collect();
    let mut index = start;
    while index < lines.len() && lines[index].starts_with(&prefix) {
        out.push(format!("{indent}{}", &lines[index][prefix.len()..]));
        index += 1;
    }
    out.extend(lines[index..].iter().map(|line| (*line).to_owned()));
    out.join("\n") + "\n"
}
