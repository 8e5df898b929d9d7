//! `docs/protocol.md` lists every IGRS refusal code with its meaning's condition; the tables
//! must say what the code does.

use hestia_proto::igrs::{DeviceRefusal, RelationRefusal};

fn protocol_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[track_caller]
fn assert_row(doc: &str, code: u16, condition: &str) {
    let found = doc.lines().any(|line| {
        line.starts_with(&format!("| {code} |"))
            && line.trim_end().ends_with(&format!("| `{condition}` |"))
    });
    assert!(
        found,
        "docs/protocol.md has no row `| {code} | … | `{condition}` |`"
    );
}

#[test]
fn every_refusal_code_is_documented_with_its_condition() {
    let doc = protocol_doc();
    for r in RelationRefusal::all() {
        assert_row(&doc, r.code(), r.condition().name());
    }
    for r in DeviceRefusal::all() {
        assert_row(&doc, r.code(), r.condition().name());
    }
}
