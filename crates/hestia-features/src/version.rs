//! Software Version (XEP-0092) of the IRSP.

use hestia_proto::ns;
use hestia_router::{Clause, Feature, IqHandler, IqKey};
use hestia_xml::Element;

pub fn feature() -> Feature {
    Feature {
        name: "version",
        clauses: vec![Clause {
            standard: "XEP-0092",
            clause: "§2",
            title: "Software version",
        }],
        iq_handlers: vec![IqHandler::new(
            IqKey::get("query", ns::VERSION),
            |_, _| async {
                Ok(Some(
                    Element::new("query", ns::VERSION)
                        .with_child(Element::new("name", ns::VERSION).with_text("Hestia"))
                        .with_child(
                            Element::new("version", ns::VERSION)
                                .with_text(env!("CARGO_PKG_VERSION")),
                        ),
                ))
            },
        )],
        disco_features: vec![ns::VERSION],
        ..Default::default()
    }
}
