//! `$VAR`, `${VAR}` and `${VAR:-default}` in magic lines, from the
//! notebook's `%crimpl env` variables over the kernel's environment.

use super::MagicError;
use super::variables::Variables;

/// Replace variables in `line` (`$$` is a literal `$`); an unset variable
/// without a default is an error.
pub fn expand_variables(line: &str, variables: &Variables) -> Result<String, MagicError> {
    shellexpand::env_with_context(line, |name| variables.get(name).map(Some).ok_or(()))
        .map(|expanded| expanded.into_owned())
        .map_err(|err| {
            MagicError::Usage(format!(
                "${name} is not set: set it with `%crimpl env {name}=VALUE` (or export it before \
                 starting Jupyter), or write the value itself",
                name = err.var_name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_variables_expand_and_unset_ones_are_errors() {
        let variables = Variables::default();
        let home = std::env::var("HOME").unwrap();
        assert_eq!(
            expand_variables("--to ${HOME}/x $HOME", &variables).unwrap(),
            format!("--to {home}/x {home}")
        );
        assert_eq!(
            expand_variables(
                "a ${CRIMPL_SURELY_UNSET_VAR:-} b ${CRIMPL_SURELY_UNSET_VAR:-x}",
                &variables
            )
            .unwrap(),
            "a  b x"
        );
        let err = expand_variables("--job $CRIMPL_SURELY_UNSET_VAR", &variables).unwrap_err();
        assert!(err.to_string().contains("CRIMPL_SURELY_UNSET_VAR"));
        assert!(
            err.to_string()
                .contains("%crimpl env CRIMPL_SURELY_UNSET_VAR=VALUE")
        );
    }

    #[test]
    fn notebook_variables_come_first_and_unset_hides_the_environment() {
        let mut variables = Variables::default();
        variables.set("CRIMPL_TEST_N", "5");
        variables.set("HOME", "/elsewhere");
        assert_eq!(
            expand_variables("--tail $CRIMPL_TEST_N --to ${HOME}/x", &variables).unwrap(),
            "--tail 5 --to /elsewhere/x"
        );
        variables.unset("HOME");
        assert!(expand_variables("$HOME", &variables).is_err());
        assert_eq!(
            expand_variables("${HOME:-none}", &variables).unwrap(),
            "none"
        );
    }

    #[test]
    fn a_doubled_dollar_is_a_literal_dollar() {
        let mut variables = Variables::default();
        variables.set("price", "$5");
        assert_eq!(
            expand_variables("'cost $$5' $price", &variables).unwrap(),
            "'cost $5' $5"
        );
    }
}
