//! The notebook's variables (`%crimpl env`): what `$VAR` in a magic line
//! expands to, over the kernel's own environment, which is never changed.

use std::collections::BTreeMap;

/// What a listed variable's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Set with `%crimpl env`.
    Notebook,
    /// The environment the kernel was started with.
    Kernel,
}

/// The notebook's variables, consulted before the kernel's environment.
#[derive(Debug, Default)]
pub struct Variables {
    /// `Some`: set by `%crimpl env`; `None`: unset by `--unset`, hiding the kernel's own.
    notebook: BTreeMap<String, Option<String>>,
}

impl Variables {
    /// The value `$name` expands to, if any.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.notebook.get(name) {
            Some(value) => value.clone(),
            None => std::env::var(name).ok(),
        }
    }

    /// Set `name` for this notebook.
    pub fn set(&mut self, name: &str, value: &str) {
        self.notebook
            .insert(name.to_string(), Some(value.to_string()));
    }

    /// Unset `name` for this notebook, whether it came from here or from the kernel's environment.
    pub fn unset(&mut self, name: &str) {
        self.notebook.insert(name.to_string(), None);
    }

    /// Every variable that expands, sorted by name: the notebook's, then the kernel's.
    pub fn list(&self) -> Vec<(String, String, Origin)> {
        let set = self
            .notebook
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.clone()?, Origin::Notebook)));
        // `vars()` would panic on a name or value that is not Unicode; `$NAME` cannot expand those anyway.
        let mut kernel: Vec<_> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| !self.notebook.contains_key(name))
            .map(|(name, value)| (name, value, Origin::Kernel))
            .collect();
        kernel.sort_by(|a, b| a.0.cmp(&b.0));
        set.chain(kernel).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notebook_overrides_and_unsets_without_touching_the_environment() {
        let mut variables = Variables::default();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(variables.get("PATH").as_deref(), Some(path.as_str()));
        variables.set("PATH", "/notebook/bin");
        variables.set("crimpl_n", "5");
        assert_eq!(variables.get("PATH").as_deref(), Some("/notebook/bin"));
        assert_eq!(variables.get("crimpl_n").as_deref(), Some("5"));
        variables.unset("PATH");
        variables.unset("crimpl_n");
        assert_eq!(variables.get("PATH"), None);
        assert_eq!(variables.get("crimpl_n"), None);
        assert_eq!(std::env::var("PATH").unwrap(), path);
        assert!(variables.list().iter().all(|(name, ..)| name != "PATH"));
    }

    #[test]
    fn listing_puts_the_notebooks_variables_first() {
        let mut variables = Variables::default();
        variables.set("zz_last_alphabetically", "1");
        variables.set("HOME", "/notebook/home");
        let listed = variables.list();
        assert_eq!(
            listed[..2],
            [
                (
                    "HOME".to_string(),
                    "/notebook/home".to_string(),
                    Origin::Notebook
                ),
                (
                    "zz_last_alphabetically".to_string(),
                    "1".to_string(),
                    Origin::Notebook
                ),
            ]
        );
        assert!(
            listed[2..]
                .iter()
                .all(|(name, _, origin)| *origin == Origin::Kernel && name != "HOME")
        );
    }
}
