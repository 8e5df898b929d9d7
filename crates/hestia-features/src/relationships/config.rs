//! Relationship options.

use hestia_config::Duration;

hestia_config::section! {
    /// Relationships, device access rights and verification codes (ISO/IEC 14543-5-8 §9, §10).
    pub struct RelationshipsConfig {
        /// How long an unanswered relationship request waits before it is dropped.
        pub request_ttl: Duration = Duration::secs(7 * 24 * 3600),
        /// Most items one roster may hold.
        pub max_roster_items: usize = 1000,
        /// Wrong verification codes (per device, and per requester) before attempts lock out.
        pub code_failures_before_lockout: u32 = 5,
        /// First lock-out; each further wrong code doubles it.
        pub code_lockout: Duration = Duration::secs(60),
        /// Longest lock-out.
        pub code_lockout_max: Duration = Duration::secs(3600),
        /// The right a user gets by proving the code of a device that already has an owner.
        pub code_holder_right: hestia_store::AccessRight = hestia_store::AccessRight::Control,
        /// A device that resets its own code (a local factory reset) releases all its relationships.
        pub factory_reset_releases: bool = true,
        /// Device searches one account may make per minute.
        pub searches_per_minute: u32 = 30,
    }
}
