//! "Did you mean …?" for names a user typed: plugins and tools.

/// The known name closest to a mistyped one, if any is close enough to be
/// what was meant. Shown after the error's own words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestion(pub Option<String>);

impl Suggestion {
    /// The candidate nearest to `typed`: within a third of its length in
    /// edits (one at least), where swapping two neighbours is one edit.
    /// Ties go to the first candidate; an exact match is not a suggestion.
    pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        let most = typed.chars().count() / 3 + 1;
        let mut best: Option<(usize, &str)> = None;
        for c in candidates {
            let d = distance(typed, c);
            if d == 0 || d > most {
                continue;
            }
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, c));
            }
        }
        Suggestion(best.map(|(_, c)| c.to_string()))
    }
}

impl std::fmt::Display for Suggestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(name) => write!(f, "; did you mean `{}`?", crate::escape::escape(name)),
            None => Ok(()),
        }
    }
}

/// Edits between `a` and `b`: insertions, deletions, substitutions and
/// transpositions of neighbours (optimal string alignment), compared
/// without regard to case.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // Three rows of the table: two back, one back and this one.
    let mut two: Vec<usize> = vec![0; b.len() + 1];
    let mut one: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (one[j] + 1).min(row[j - 1] + 1).min(one[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut two, &mut one);
        std::mem::swap(&mut one, &mut row);
    }
    one[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_counted_with_swaps_as_one() {
        assert_eq!(distance("read", "read"), 0);
        assert_eq!(distance("raed", "read"), 1);
        assert_eq!(distance("rea", "read"), 1);
        assert_eq!(distance("Read", "read"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn only_a_close_name_is_suggested() {
        let tools = ["read", "list", "write"];
        assert_eq!(
            Suggestion::closest("raed", tools).0.as_deref(),
            Some("read")
        );
        assert_eq!(Suggestion::closest("lst", tools).0.as_deref(), Some("list"));
        assert_eq!(Suggestion::closest("delete", tools).0, None);
        assert_eq!(Suggestion::closest("read", tools).0, None);
        assert_eq!(Suggestion::closest("x", ["fs"]).0, None);
        assert_eq!(
            Suggestion::closest("raed", tools).to_string(),
            "; did you mean `read`?"
        );
        assert_eq!(Suggestion::default().to_string(), "");
    }
}
