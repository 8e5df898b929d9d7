//! Entity Time (XEP-0202): the IRSP's clock in UTC, which devices without a clock of their own
//! use to stamp events.

use hestia_proto::ns;
use hestia_router::{Clause, Feature, IqHandler, IqKey};
use hestia_xml::Element;

pub fn feature() -> Feature {
    Feature {
        name: "time",
        clauses: vec![Clause {
            standard: "XEP-0202",
            clause: "§3",
            title: "Entity time",
        }],
        iq_handlers: vec![IqHandler::new(IqKey::get("time", ns::TIME), |_, _| async {
            let utc = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
            Ok(Some(
                Element::new("time", ns::TIME)
                    .with_child(Element::new("tzo", ns::TIME).with_text("+00:00"))
                    .with_child(Element::new("utc", ns::TIME).with_text(utc)),
            ))
        })],
        disco_features: vec![ns::TIME],
        ..Default::default()
    }
}
