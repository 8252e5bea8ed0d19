//! `$VAR`, `${VAR}` and `${VAR:-default}` in magic lines, from the kernel's environment.

use super::MagicError;

/// Replace environment variables in `line`; an unset variable without a
/// default is an error.
pub fn expand_variables(line: &str) -> Result<String, MagicError> {
    shellexpand::env(line)
        .map(|expanded| expanded.into_owned())
        .map_err(|err| {
            MagicError::Usage(format!(
                "${} is not set in the kernel's environment: export it before starting Jupyter, \
                 or write the value itself",
                err.var_name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_variables_expand_and_unset_ones_are_errors() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(
            expand_variables("--to ${HOME}/x $HOME").unwrap(),
            format!("--to {home}/x {home}")
        );
        assert_eq!(
            expand_variables("a ${CRIMPL_SURELY_UNSET_VAR:-} b ${CRIMPL_SURELY_UNSET_VAR:-x}")
                .unwrap(),
            "a  b x"
        );
        let err = expand_variables("--job $CRIMPL_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.to_string().contains("CRIMPL_SURELY_UNSET_VAR"));
    }
}
