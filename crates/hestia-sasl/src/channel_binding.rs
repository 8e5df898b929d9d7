//! Channel-binding data for SCRAM `-PLUS` (RFC 5802 §6) of type `tls-exporter` (RFC 9266): the TLS exporter value
//! with label `EXPORTER-Channel-Binding`, no context, 32 bytes. The caller computes it from its TLS session (rustls
//! `export_keying_material`) and hands it in; this crate never touches TLS.

/// The channel-binding type name of RFC 9266.
pub const TLS_EXPORTER: &str = "tls-exporter";
/// The TLS exporter label RFC 9266 §2 defines.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The exporter output length RFC 9266 §2 defines, in bytes.
pub const TLS_EXPORTER_LEN: usize = 32;

/// Channel-binding data one side knows for its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The channel-binding type, e.g. `"tls-exporter"`.
    pub kind: String,
    /// The channel-binding data for that type.
    pub data: Vec<u8>,
}

impl ChannelBinding {
    /// `tls-exporter` binding data (RFC 9266).
    pub fn tls_exporter(data: Vec<u8>) -> ChannelBinding {
        ChannelBinding {
            kind: TLS_EXPORTER.to_owned(),
            data,
        }
    }
}
