//! Generates `docs/conformance.md` from the clause lists the stream layer and every feature
//! declare in code, so the coverage table cannot drift from what is registered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hestia_features::FeaturesConfig;
use hestia_router::Clause;

/// The conformance document as Markdown.
pub fn markdown() -> String {
    let mut by_standard: BTreeMap<&str, Vec<(Clause, &str)>> = BTreeMap::new();
    for clause in hestia_session::clauses() {
        by_standard
            .entry(clause.standard)
            .or_default()
            .push((clause, "c2s stream (hestia-session)"));
    }
    for clause in crate::component::clauses() {
        by_standard
            .entry(clause.standard)
            .or_default()
            .push((clause, "component port (hestia-server)"));
    }
    for feature in hestia_features::all(&FeaturesConfig::default(), None) {
        for clause in feature.clauses {
            by_standard
                .entry(clause.standard)
                .or_default()
                .push((clause, feature.name));
        }
    }
    let mut out = String::from(
        "# Conformance\n\nGenerated from the clause lists declared in code (`hestia_session::clauses()`,\n`hestia_server::component::clauses()` and each feature's `clauses`); `cargo test -p hestia-server conformance` fails when this file is stale.\nRegenerate with `cargo run -p hestia -- conformance > docs/conformance.md`.\n",
    );
    for (standard, mut clauses) in by_standard {
        clauses.sort_by_key(|c| clause_key(c.0.clause));
        let _ = write!(
            out,
            "\n## {standard}\n\n| Clause | What | Implemented by |\n|---|---|---|\n"
        );
        for (c, by) in clauses {
            let _ = writeln!(out, "| {} | {} | `{}` |", c.clause, c.title, by);
        }
    }
    out
}

/// "§8.1.2" → [8, 1, 2], so §13 sorts after §7.
fn clause_key(clause: &str) -> Vec<u32> {
    clause
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_conformance_is_in_sync() {
        let committed = include_str!("../../../docs/conformance.md");
        assert_eq!(
            committed,
            super::markdown(),
            "regenerate with `cargo run -p hestia -- conformance > docs/conformance.md`"
        );
    }
}
