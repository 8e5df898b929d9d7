//! Relating benchmark accounts before traffic starts: Hestia routes messages and IQs only
//! between related accounts (RFC 6121 roster subscriptions, `both` on both rosters), and every
//! server sends presence only across subscriptions.
//!
//! The handshake is plain RFC 6121, so it works on any server: A sends `subscribe` to B; B
//! answers `subscribed` and sends its own `subscribe`; A answers `subscribed`. Each side is done
//! when its own roster shows the other with `both` (seen in a roster push, or in a roster get
//! repeated while nothing arrives, since pushes may lag on Prosody and ejabberd). Hestia makes
//! the relationship mutual as soon as B accepts, and answers B's own request for A itself; the
//! handshake copes with both. It is idempotent: subscriptions outlive server restarts, and a
//! pair whose rosters already show `both` is left alone.
//!
//! While waiting, each side answers roster pushes (an empty IQ result, RFC 6121 §2.1.6) and
//! skips every other stanza it is not waiting for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hestia_client::{Bound, Element};
use hestia_proto::ns;

use super::stats::run_jobs;

/// How long a side waits for a push before asking for its roster again.
const RECHECK: Duration = Duration::from_millis(500);

/// A client and the clients it must be related to.
pub type Group = (Bound, Vec<Bound>);

/// What [`relate_groups`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Relating {
    /// Relationships the handshake established.
    pub established: usize,
    /// Relationships already in place (both rosters `both`).
    pub existing: usize,
    pub seconds: f64,
}

impl Relating {
    pub fn summary(&self) -> String {
        format!(
            "relationships: {} established, {} already in place ({:.1} s)",
            self.established, self.existing, self.seconds
        )
    }
}

/// The answer owed to an IQ request the benchmark has no use for (a roster push, a server's
/// ping): an empty result (RFC 6121 §2.1.6). `None` for anything else.
pub fn iq_result(el: &Element) -> Option<Element> {
    if el.name() != "iq" || !matches!(el.attr("type"), Some("get" | "set")) {
        return None;
    }
    let mut result = Element::new("iq", ns::CLIENT).with_attr("type", "result");
    if let Some(from) = el.attr("from") {
        result.set_attr("to", from);
    }
    if let Some(id) = el.attr("id") {
        result.set_attr("id", id);
    }
    Some(result)
}

/// The bare JID in a `from` attribute.
pub fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(bare, _)| bare)
}

/// Relates each group's first client to each of its others, `concurrency` groups at a time.
/// A client's own handshakes run one after another (they share its stream). The groups come
/// back in their order.
pub async fn relate_groups(
    groups: Vec<Group>,
    concurrency: usize,
    limit: Duration,
) -> Result<(Vec<Group>, Relating)> {
    let started = Instant::now();
    let n = groups.len();
    let slots: Arc<Vec<Mutex<Option<Group>>>> =
        Arc::new(groups.into_iter().map(|g| Mutex::new(Some(g))).collect());
    let jobs = slots.clone();
    let results = run_jobs("relating", n, concurrency, move |i| {
        let group = jobs[i].lock().ok().and_then(|mut g| g.take());
        async move {
            let (mut first, mut others) = group.context("group taken twice")?;
            let mut counts = Relating::default();
            for other in &mut others {
                if relate(&mut first, other, limit).await? {
                    counts.established += 1;
                } else {
                    counts.existing += 1;
                }
            }
            anyhow::Ok(((first, others), counts))
        }
    })
    .await;
    let mut out = Vec::with_capacity(n);
    let mut total = Relating::default();
    for r in results {
        let (group, counts) = r?;
        total.established += counts.established;
        total.existing += counts.existing;
        out.push(group);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok((out, total))
}

/// Relates consecutive clients (0 with 1, 2 with 3, …), as the traffic scenarios pair them.
pub async fn relate_pairs(
    clients: Vec<Bound>,
    concurrency: usize,
    limit: Duration,
) -> Result<(Vec<Bound>, Relating)> {
    let mut groups = Vec::with_capacity(clients.len() / 2);
    let mut it = clients.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        groups.push((a, vec![b]));
    }
    let (groups, relating) = relate_groups(groups, concurrency, limit).await?;
    let clients = groups
        .into_iter()
        .flat_map(|(a, others)| std::iter::once(a).chain(others))
        .collect();
    Ok((clients, relating))
}

/// Makes `a` and `b` mutually subscribed, each side within `limit`. `Ok(false)` if both
/// rosters already showed `both`.
pub async fn relate(a: &mut Bound, b: &mut Bound, limit: Duration) -> Result<bool> {
    let a_bare = a.jid().to_bare().to_string();
    let b_bare = b.jid().to_bare().to_string();
    // A roster get also makes each client an interested resource: it gets roster pushes.
    let a_state = subscription(a, &b_bare).await?;
    let b_state = subscription(b, &a_bare).await?;
    if a_state == "both" && b_state == "both" {
        return Ok(false);
    }
    let deadline = Instant::now() + limit;
    let (ra, rb) = tokio::join!(
        side(a, &b_bare, true, a_state, deadline),
        side(b, &a_bare, false, b_state, deadline),
    );
    ra.with_context(|| format!("{a_bare} relating to {b_bare}"))?;
    rb.with_context(|| format!("{b_bare} relating to {a_bare}"))?;
    Ok(true)
}

/// The `subscription` of `contact`'s item in `client`'s roster ("none" without one).
async fn subscription(client: &mut Bound, contact: &str) -> Result<String> {
    let get = Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_child(Element::new("query", ns::ROSTER));
    let result = client.iq(get).await.context("roster get")?;
    Ok(result
        .get_child("query", ns::ROSTER)
        .and_then(|q| item_subscription(q, contact))
        .unwrap_or_else(|| "none".to_owned()))
}

fn item_subscription(query: &Element, contact: &str) -> Option<String> {
    query
        .children()
        .find(|i| i.is("item", ns::ROSTER) && i.attr("jid") == Some(contact))
        .map(|i| i.attr("subscription").unwrap_or("none").to_owned())
}

fn presence(to: &str, presence_type: &str) -> Element {
    Element::new("presence", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", presence_type)
}

fn has_to(state: &str) -> bool {
    matches!(state, "to" | "both")
}

fn has_from(state: &str) -> bool {
    matches!(state, "from" | "both")
}

/// One side of the handshake, until its own roster shows `peer` with `both`. The requester
/// asks first; the other side asks once it has accepted the requester (or at once if its
/// roster shows it already accepted in an earlier, interrupted run).
async fn side(
    me: &mut Bound,
    peer: &str,
    is_requester: bool,
    mut state: String,
    deadline: Instant,
) -> Result<()> {
    let mut asked = false;
    let mut recheck_at = Instant::now() + RECHECK;
    loop {
        if state == "both" {
            return Ok(());
        }
        if !asked && !has_to(&state) && (is_requester || has_from(&state)) {
            me.send(&presence(peer, "subscribe")).await?;
            asked = true;
        }
        let now = Instant::now();
        if now >= deadline {
            bail!("subscription still {state:?} after the handshake");
        }
        let Some(el) = me
            .recv_timeout(recheck_at.min(deadline).saturating_duration_since(now))
            .await?
        else {
            state = subscription(me, peer).await?;
            recheck_at = Instant::now() + RECHECK;
            continue;
        };
        if let Some(result) = iq_result(&el) {
            me.send(&result).await?;
            if let Some(s) = el
                .get_child("query", ns::ROSTER)
                .and_then(|q| item_subscription(q, peer))
            {
                state = s;
            }
            continue;
        }
        let is_request = el.name() == "presence"
            && el.attr("type") == Some("subscribe")
            && el.attr("from").map(bare) == Some(peer);
        if is_request {
            me.send(&presence(peer, "subscribed")).await?;
            if !asked && !has_to(&state) {
                me.send(&presence(peer, "subscribe")).await?;
                asked = true;
            }
        }
    }
}
