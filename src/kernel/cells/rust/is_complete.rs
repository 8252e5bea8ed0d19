//! `is_complete` for Rust code: whether brackets, strings and comments are
//! closed, so `jupyter console` knows when Enter runs the cell.
//!
//! Written by hand because a full parser would need evcxr (seconds to start)
//! for a question that must be answered at once; a bracket scanner that knows
//! Rust's strings, raw strings, chars, lifetimes and nested comments answers
//! it exactly for the cases a console meets.

/// The verdict for a piece of code, with the indent to offer when incomplete.
#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// More lines are needed; the string is the suggested indent.
    Incomplete(String),
    /// Cannot become valid by adding lines (e.g. an unmatched closing bracket).
    Invalid,
}

/// Judge Rust source text.
pub fn rust(code: &str) -> Completeness {
    let chars: Vec<char> = code.chars().collect();
    let mut stack: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return Completeness::Incomplete(String::new()),
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 1;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 1;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                continue;
            }
            '"' => match skip_string(&chars, i + 1) {
                Some(end) => i = end,
                None => return Completeness::Incomplete(String::new()),
            },
            'r' | 'b' if starts_raw_string(&chars, i) => match skip_raw_string(&chars, i) {
                Some(end) => i = end,
                None => return Completeness::Incomplete(String::new()),
            },
            '\'' => i = skip_char_or_lifetime(&chars, i),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete("    ".repeat(stack.len()))
    }
}

/// Index of the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Whether `r"`, `r#"`, `br"` or `br#"` starts at `i` (and is not the end of an identifier).
fn starts_raw_string(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return false;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Index of the last character of the raw string starting at `i`.
fn skip_raw_string(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while chars[j] != '#' && chars[j] != '"' {
        j += 1;
    }
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes + 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + hashes);
        }
        j += 1;
    }
    None
}

/// Skip a char literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`); returns the last index consumed.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 2;
    }
    i
}

/// Judge a cell that may start with `%%crimpl` or contain `%crimpl` lines.
/// A `%%crimpl` cell is complete once it ends with a blank line (as IPython's
/// cell magics in a console); lines of magics are always complete.
pub fn cell(code: &str) -> Completeness {
    if code.trim_start().starts_with("%%") {
        return if code.ends_with("\n\n") || code.ends_with("\r\n\r\n") {
            Completeness::Complete
        } else {
            Completeness::Incomplete(String::new())
        };
    }
    let rust_lines: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with('%'))
        .collect::<Vec<_>>()
        .join("\n");
    rust(&rust_lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_code_is_complete() {
        assert_eq!(rust("let x = vec![1, 2];"), Completeness::Complete);
        assert_eq!(
            rust("fn f<'a>(s: &'a str) -> char { '}' }"),
            Completeness::Complete
        );
        assert_eq!(rust(r##"let s = r#"{ "# ;"##), Completeness::Complete);
        assert_eq!(rust("let s = \"\\\"{\";"), Completeness::Complete);
        assert_eq!(rust("// {\nlet a = 1;"), Completeness::Complete);
        assert_eq!(rust("/* /* { */ */ 1"), Completeness::Complete);
    }

    #[test]
    fn open_brackets_strings_and_comments_are_incomplete() {
        assert_eq!(rust("fn main() {"), Completeness::Incomplete("    ".into()));
        assert_eq!(
            rust("let v = vec![(1,"),
            Completeness::Incomplete("        ".into())
        );
        assert_eq!(
            rust("let s = \"abc"),
            Completeness::Incomplete(String::new())
        );
        assert_eq!(
            rust("/* not closed"),
            Completeness::Incomplete(String::new())
        );
    }

    #[test]
    fn unmatched_closers_are_invalid() {
        assert_eq!(rust("let x = 1; }"), Completeness::Invalid);
        assert_eq!(rust("(]"), Completeness::Invalid);
    }

    #[test]
    fn cell_magics_wait_for_a_blank_line() {
        assert_eq!(
            cell("%%crimpl run\necho hi"),
            Completeness::Incomplete(String::new())
        );
        assert_eq!(cell("%%crimpl run\necho hi\n\n"), Completeness::Complete);
        assert_eq!(cell("%crimpl jobs"), Completeness::Complete);
    }
}
