//! Sets of tool names. A request may declare tens of thousands of tools (95,000 fit in a 4 MiB
//! body), so every check by name (declared twice, named by `tool_choice`, allowed, custom) is
//! one hash lookup, never a scan of the tools: a scan per tool made reading them quadratic.

use std::borrow::Cow;
use std::collections::HashSet;

/// Names borrowed from tools or a request (or copied, where the tools are still being read),
/// hashed with std's keyed SipHash so that no client
/// can aim its names at one bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameSet<'a>(HashSet<Name<'a>>);

impl<'a> NameSet<'a> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        NameSet(HashSet::with_capacity(capacity))
    }

    /// Adds `name`; `false` when it was there already.
    pub(crate) fn insert(&mut self, name: impl Into<Cow<'a, str>>) -> bool {
        self.0.insert(Name(name.into()))
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        let names: &HashSet<Name<'_>> = &self.0;
        names.contains(&Name(Cow::Borrowed(name)))
    }
}

impl<'a> FromIterator<&'a str> for NameSet<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Self {
        NameSet(
            names
                .into_iter()
                .map(|name| Name(Cow::Borrowed(name)))
                .collect(),
        )
    }
}

/// The position of the first name that repeats an earlier one.
pub(crate) fn first_repeat<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Option<usize> {
    let mut seen = NameSet::with_capacity(names.len());
    names
        .enumerate()
        .find_map(|(position, name)| (!seen.insert(name)).then_some(position))
}

/// A name whose comparisons the tests count: reading N tools must make O(N) of them.
#[derive(Debug, Clone, Hash)]
struct Name<'a>(Cow<'a, str>);

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(test)]
        comparisons::add();
        self.0 == other.0
    }
}

impl Eq for Name<'_> {}

/// Name comparisons made on this thread, for the tests that hold reading tools to linear work.
#[cfg(test)]
pub(crate) mod comparisons {
    use std::cell::Cell;

    thread_local! {
        static COMPARISONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn add() {
        COMPARISONS.with(|count| count.set(count.get() + 1));
    }

    /// The comparisons `work` makes.
    pub(crate) fn during<T>(work: impl FnOnce() -> T) -> (T, u64) {
        let before = COMPARISONS.with(Cell::get);
        let result = work();
        (result, COMPARISONS.with(Cell::get) - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeat_is_found() {
        assert_eq!(first_repeat(["a", "b", "c"].into_iter()), None);
        assert_eq!(first_repeat(["a", "b", "a", "b"].into_iter()), Some(2));
        assert_eq!(first_repeat(std::iter::empty()), None);
    }

    #[test]
    fn lookups_compare_names_a_constant_number_of_times() {
        let names: Vec<String> = (0..20_000).map(|n| format!("tool_{n}")).collect();
        let (set, built) =
            comparisons::during(|| names.iter().map(String::as_str).collect::<NameSet<'_>>());
        let (found, looked_up) =
            comparisons::during(|| names.iter().filter(|name| set.contains(name)).count());
        assert_eq!(found, names.len());
        assert!(!set.contains("tool_20000"));
        // Each lookup compares the name it finds, and rarely another whose hash tag matches.
        assert!(
            built + looked_up <= 2 * names.len() as u64,
            "{built} + {looked_up}"
        );
    }
}
