//! XMPP Ping (XEP-0199): the server answers pings addressed to it, which clients use as an
//! application-level keep-alive (14543-5-8 §12, detection of abrupt logout).

use hestia_proto::ns;
use hestia_router::{Clause, Feature, IqHandler, IqKey};

pub fn feature() -> Feature {
    Feature {
        name: "ping",
        clauses: vec![Clause {
            standard: "XEP-0199",
            clause: "§4.2",
            title: "Client-to-server ping",
        }],
        iq_handlers: vec![IqHandler::new(IqKey::get("ping", ns::PING), |_, _| async {
            Ok(None)
        })],
        disco_features: vec![ns::PING],
        ..Default::default()
    }
}
