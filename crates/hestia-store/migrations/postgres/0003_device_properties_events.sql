-- The description each device last published of itself (ISO/IEC 14543-5-8 §11.2: properties with type,
-- unit, range and access; events), kept so the IRSP answers and checks requests while the device is offline.
CREATE TABLE device_descriptions (
    device      TEXT    PRIMARY KEY REFERENCES accounts (localpart) ON DELETE CASCADE,
    description TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Who subscribed to which event of which device (XEP-0060 subscriptions to the device's PEP nodes).
CREATE TABLE event_subscriptions (
    device     TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    event      TEXT    NOT NULL,
    subscriber TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (device, event, subscriber)
);

CREATE INDEX event_subscriptions_by_subscriber ON event_subscriptions (subscriber);

-- The last item published to each device event, given to a subscriber when it comes online.
CREATE TABLE event_last_items (
    device       TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    event        TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (device, event)
);
