//! "Did you mean ...?": the existing names closest to a mistyped one, by
//! the same similarity measure clap uses for its own suggestions.

/// How similar (Jaro-Winkler, 0 to 1) a name must be to be suggested; clap's threshold.
const THRESHOLD: f64 = 0.7;

/// The candidates closest to `word`, best first (at most three).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > THRESHOLD)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `" (did you mean `a` or `b`?)"`, or nothing when no name is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let found = closest(word, candidates);
    if found.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = found.iter().map(|c| format!("`{c}`")).collect();
    format!(" (did you mean {}?)", quoted.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_best_first() {
        let names = ["gpu", "gpu2", "cluster", "local"];
        assert_eq!(closest("gpu3", names), vec!["gpu", "gpu2"]);
        assert_eq!(closest("clustr", names), vec!["cluster"]);
        assert!(closest("zzz", names).is_empty());
        assert_eq!(did_you_mean("locl", names), " (did you mean `local`?)");
        assert_eq!(did_you_mean("xyz", names), "");
    }
}
