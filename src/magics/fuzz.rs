//! Property tests: magic lines generated from the real clap grammar, with
//! random values, Unicode and quoting, go through parsing, completion and
//! help without a panic. Zero panics is the pass mark.

use clap::CommandFactory;
use proptest::prelude::*;

use super::commands::{MagicLine, parse};
use super::complete::{complete, help_for};
use super::expand::expand_variables;
use super::variables::Variables;

/// Every command path of the grammar with the long options it takes.
fn grammar() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let options = command
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .collect();
        out.push((path.clone(), options));
        for sub in command.get_subcommands() {
            let mut deeper = path.clone();
            deeper.push(sub.get_name().to_string());
            walk(sub, deeper, out);
        }
    }
    let mut out = Vec::new();
    walk(&MagicLine::command(), Vec::new(), &mut out);
    out
}

/// Values a user's hands (or a paste) can produce.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}",
        "-?[0-9]{0,4}\\.?[0-9]{0,4}(e[+-]?[0-9]{1,3})?",
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-0".to_string()),
        "\\PC{0,12}",
        "[\"' \\\\$`;|&{}()\u{a0}\u{2003}é✓]{0,6}",
    ]
}

/// A word as typed: bare, single- or double-quoted, or with stray quotes.
fn quoted(word: String, style: u8) -> String {
    match style % 4 {
        0 => word,
        1 => shlex::try_quote(&word).map_or(word.clone(), |q| q.into_owned()),
        2 => format!("\"{word}\""),
        _ => format!("'{word}"),
    }
}

fn magic_line() -> impl Strategy<Value = String> {
    let grammar = grammar();
    (
        prop::sample::select(grammar),
        prop::collection::vec((any::<prop::sample::Index>(), value(), any::<u8>()), 0..5),
        prop::collection::vec(value(), 0..3),
        prop::sample::select(vec![" ", "  ", "\u{a0}", "\t"]),
    )
        .prop_map(|((path, options), picks, positionals, space)| {
            let mut words = path;
            for (index, value, style) in picks {
                if !options.is_empty() {
                    words.push(index.get(&options).clone());
                }
                words.push(quoted(value, style));
            }
            words.extend(positionals);
            words.join(space)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn magic_lines_never_panic(line in magic_line()) {
        let _ = expand_variables(&line, &Variables::default());
        let _ = parse(&line);
        let full = format!("%crimpl {line}");
        let _ = help_for(&full);
        for cursor in 0..=full.len() + 2 {
            let completion = complete(&full, cursor, &["local".into()], &["j-1".into()]);
            prop_assert!(completion.start <= completion.end);
            prop_assert!(full.is_char_boundary(completion.start.min(full.len())));
        }
    }

    #[test]
    fn any_text_completes_without_panic(text in "\\PC{0,40}", cursor in 0usize..60) {
        let _ = complete(&text, cursor, &[], &[]);
        let _ = help_for(&text);
    }
}
