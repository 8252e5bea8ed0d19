//! `%crimpl env`: the variables that `$VAR` in a magic line expands to,
//! set from the notebook (papermill's parameters arrive this way) over the
//! kernel's own environment, which is never changed.

use clap::Args;

use crate::magics::state::State;
use crate::magics::variables::Origin;
use crate::magics::{MagicError, MagicResult, Output, StreamName, render};

/// `%crimpl env [NAME=VALUE ...] [NAME ...] [--unset NAME ...]`.
#[derive(Args, Debug)]
#[command(
    after_help = "Like IPython's %env: the kernel's own environment stays as it was; these \
                  variables come first when `$NAME` is expanded in a magic line (not in a \
                  cell body). Values of names that look secret (KEY, TOKEN, PASSWORD...) are \
                  hidden in listings. `$OTHER` in a VALUE is expanded; write `$$` for a `$`."
)]
pub struct EnvArgs {
    /// NAME=VALUE sets NAME; NAME alone shows its value; nothing lists every variable.
    #[arg(value_name = "NAME=VALUE")]
    pub words: Vec<String>,
    /// Unset NAME: `$NAME` is then an error, even where the kernel's environment has it.
    #[arg(long, value_name = "NAME", conflicts_with = "words")]
    pub unset: Vec<String>,
}

/// Words in names whose values are hidden in listings (as IPython's `%env` hides them).
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "PRIVATE",
];

/// Whether `name` looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word))
}

/// `value`, or a placeholder when `name` looks secret.
fn shown(name: &str, value: &str) -> String {
    if looks_secret(name) {
        "<hidden>".into()
    } else {
        value.into()
    }
}

/// The arguments of a magic line (`env ...`) as the history file keeps them:
/// the values of names that look secret hidden, as in listings. `None` when
/// nothing is hidden (not an `env` line, or no secret-looking name set).
pub fn hide_secrets(arguments: &str) -> Option<String> {
    let Some(mut words) = shlex::split(arguments) else {
        // Unbalanced quotes: the command failed, but the line may still hold a secret.
        let is_env = arguments.split_whitespace().next() == Some("env");
        return (is_env && looks_secret(arguments)).then(|| "env <hidden>".into());
    };
    if words.first().map(String::as_str) != Some("env") {
        return None;
    }
    let mut hidden = false;
    for word in &mut words[1..] {
        if let Some((name, _)) = word.split_once('=')
            && looks_secret(name)
        {
            *word = format!("{name}=<hidden>");
            hidden = true;
        }
    }
    // Quoting fails only on a NUL byte: then hide the whole line.
    hidden
        .then(|| shlex::try_join(words.iter().map(String::as_str)).unwrap_or("env <hidden>".into()))
}

/// Check that `name` can be written as `$name`: ASCII letters, digits and `_`, not starting with a digit.
fn check_name(name: &str) -> Result<(), MagicError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(MagicError::Usage(format!(
            "{name:?} is not a variable name: use letters, digits and _, not starting with a digit \
             (to set one: %crimpl env NAME=VALUE)"
        )))
    }
}

/// Run `%crimpl env`.
pub fn run(state: &State, args: EnvArgs, out: &Output) -> MagicResult {
    let mut said = String::new();
    if !args.unset.is_empty() {
        args.unset.iter().try_for_each(|name| check_name(name))?;
        let mut variables = state.variables();
        for name in &args.unset {
            variables.unset(name);
            said.push_str(&format!("env: unset {name}\n"));
        }
    } else if args.words.is_empty() {
        let rows: Vec<Vec<String>> = state
            .variables()
            .list()
            .into_iter()
            .map(|(name, value, origin)| {
                let origin = match origin {
                    Origin::Notebook => "notebook",
                    Origin::Kernel => "kernel environment",
                };
                vec![name.clone(), shown(&name, &value), origin.into()]
            })
            .collect();
        let view = render::table(
            "Variables for $NAME in magic lines",
            &["name", "value", "from"],
            &rows,
        );
        out.display(&view, None);
        return Ok(());
    } else {
        let words: Vec<(&str, Option<&str>)> = args
            .words
            .iter()
            .map(|word| match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word.as_str(), None),
            })
            .collect();
        words.iter().try_for_each(|(name, _)| check_name(name))?;
        let mut variables = state.variables();
        for (name, value) in words {
            match value {
                Some(value) => {
                    variables.set(name, value);
                    said.push_str(&format!("env: {name}={}\n", shown(name, value)));
                }
                None => match variables.get(name) {
                    Some(value) => said.push_str(&format!("{value}\n")),
                    None => {
                        return Err(MagicError::Usage(format!(
                            "{name} is not set: %crimpl env {name}=VALUE sets it"
                        )));
                    }
                },
            }
        }
    }
    out.stream(StreamName::Stdout, &said);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_are_hidden() {
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "github_token",
            "DB_PASSWORD",
            "CRIMPL_AWS_KEY_FILE",
        ] {
            assert!(looks_secret(name), "{name}");
            assert_eq!(shown(name, "s3cr3t"), "<hidden>");
        }
        for name in ["HOME", "n", "subnet_id", "AWS_REGION"] {
            assert!(!looks_secret(name), "{name}");
            assert_eq!(shown(name, "visible"), "visible");
        }
    }

    #[test]
    fn secret_values_are_hidden_from_the_history() {
        assert_eq!(
            hide_secrets("env API_TOKEN=abc123 n=4").as_deref(),
            Some("env 'API_TOKEN=<hidden>' 'n=4'")
        );
        assert_eq!(
            hide_secrets("env 'DB_PASSWORD=a b' REGION=\"eu west\"").as_deref(),
            Some("env 'DB_PASSWORD=<hidden>' 'REGION=eu west'")
        );
        assert_eq!(hide_secrets("env n=4 HOME"), None, "nothing secret");
        assert_eq!(
            hide_secrets("env API_TOKEN"),
            None,
            "a name alone shows, sets nothing"
        );
        assert_eq!(hide_secrets("run --server API_TOKEN=x"), None, "not env");
        assert_eq!(
            hide_secrets("env API_TOKEN='unbalanced").as_deref(),
            Some("env <hidden>")
        );
    }

    #[test]
    fn names_are_checked() {
        for good in ["n", "_x", "CRIMPL_AWS_OPTIONS", "a1"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "a-b", "a b", "é"] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("not a variable name"), "{bad}: {err}");
        }
    }
}
