//! `[[mqtt]]` entries become clusters of the gateway at startup: each is added whether or not
//! its broker answers yet (the connection retries in the background), and stops with the
//! server. The cluster's behaviour against a real broker is tested in
//! `crates/hestia-gateway/tests/cluster_mqtt.rs`.

#![allow(clippy::expect_used)]

use std::time::Duration;

use hestia_gateway::cluster::Cluster;
use hestia_gateway::mqtt::{Member, MemberRight, MqttConfig};
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_configured_mqtt_cluster_is_added_even_while_its_broker_is_down() {
    let t = TestServer::start_with(|c| {
        c.mqtt = vec![MqttConfig {
            name: "home".into(),
            // Nothing listens on the discard port: the connection keeps retrying.
            broker: "127.0.0.1:9".into(),
            members: vec![Member {
                user: "alice".into(),
                right: MemberRight::Control,
            }],
            ..MqttConfig::default()
        }];
    })
    .await
    .expect("the server starts with its broker down");
    let cluster = t.server.gateway.clusters().named("home").expect("added");
    assert!(matches!(*cluster, Cluster::Mqtt(_)));
    assert!(cluster.devices("alice").await.expect("devices").is_empty());
    drop(cluster);
    tokio::time::timeout(Duration::from_secs(5), t.stop())
        .await
        .expect("the MQTT connection stops with the server");
}
