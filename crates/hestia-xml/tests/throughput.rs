//! Rough throughput check of the hot path; run with
//! `cargo test -p hestia-xml --release --test throughput -- --ignored --nocapture`.

use std::time::Instant;

use hestia_xml::{Limits, StreamEvent, StreamParser};

#[test]
#[ignore = "timing; run manually in release mode"]
fn small_stanzas_per_second() {
    let stanza = "<message to='romeo@example.net/orchard' from='juliet@example.com/balcony' \
        type='chat' id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body>\
        <active xmlns='http://jabber.org/protocol/chatstates'/></message>";
    let batch = stanza.repeat(100);
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Open(_)))));
    let rounds = 5_000;
    let start = Instant::now();
    let mut count = 0u64;
    for _ in 0..rounds {
        parser.feed(batch.as_bytes());
        while let Ok(Some(_)) = parser.next() {
            count += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(count, rounds * 100);
    println!("{:.0} stanzas/s", count as f64 / secs);
}
