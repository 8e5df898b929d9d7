//! Simulated devices that behave like real ones, built on the [device SDK](crate::device): a
//! lamp, a thermostat, a smart plug and a motion camera, each with state that changes as it is
//! set and as time passes, events, and an optional slow response (for the gateway's deferred
//! result path). `hestia device simulate` runs them; the tests use them as the far end.

use std::time::Duration;

use hestia_xml::Element;
use rand::Rng;

use crate::device::{
    Access, Description, Device, DeviceRegistration, GetRequest, Property, PropertyType, Request,
    SetRequest, Value,
};
use crate::{ClientError, ConnectOptions};
use hestia_proto::igrs::NS_DEVICE;

/// The kinds `hestia device simulate --kind` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lamp,
    Thermostat,
    Plug,
    CameraMotion,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Lamp, Kind::Thermostat, Kind::Plug, Kind::CameraMotion];

    /// The name on the command line, also the device type it registers with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lamp => "lamp",
            Kind::Thermostat => "thermostat",
            Kind::Plug => "plug",
            Kind::CameraMotion => "camera-motion",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What a device of this kind describes of itself.
    pub fn description(self) -> Description {
        let rw = Access::ReadWrite;
        let int = |min, max| PropertyType::Integer {
            min: Some(min),
            max: Some(max),
        };
        let num = |min, max| PropertyType::Number {
            min: Some(min),
            max: Some(max),
        };
        let on = Property::new("on", PropertyType::Boolean, rw);
        match self {
            Kind::Lamp => Description::new()
                .with_property(on)
                .with_property(Property::new("brightness", int(0, 100), rw).with_unit("%"))
                .with_event("switched"),
            Kind::Thermostat => Description::new()
                .with_property(
                    Property::new("temperature", num(-40.0, 85.0), Access::Read).with_unit("°C"),
                )
                .with_property(Property::new("setpoint", num(5.0, 30.0), rw).with_unit("°C"))
                .with_property(Property::new(
                    "mode",
                    PropertyType::Enum {
                        values: ["off", "heat", "eco"].map(str::to_owned).to_vec(),
                    },
                    rw,
                ))
                .with_event("temperature"),
            Kind::Plug => Description::new()
                .with_property(on.needing_confirmation())
                .with_property(
                    Property::new("power", num(0.0, 3680.0), Access::Read).with_unit("W"),
                )
                .with_property(
                    Property::new("energy", num(0.0, 1e9), Access::Read).with_unit("kWh"),
                )
                .with_event("switched"),
            Kind::CameraMotion => Description::new()
                .with_property(Property::new("armed", PropertyType::Boolean, rw))
                .with_property(Property::new(
                    "last-motion",
                    PropertyType::String { max_length: 32 },
                    Access::Read,
                ))
                .with_event("motion"),
        }
    }

    /// The registration fields of device number `n` of this kind.
    pub fn registration(self, n: usize, verification_code: &str) -> DeviceRegistration {
        DeviceRegistration {
            device_type: self.name().to_owned(),
            model: format!("Hestia simulated {}", self.name()),
            manufacturer: "Hestia".to_owned(),
            serial: format!("SIM-{}-{n:04}", self.name()),
            verification_code: verification_code.to_owned(),
        }
    }
}

/// The live state of a simulated device: its property values, and what it does each tick.
#[derive(Debug, Clone)]
pub struct State {
    kind: Kind,
    values: Vec<(String, Value)>,
}

impl State {
    pub fn new(kind: Kind) -> State {
        let v = |name: &str, value| (name.to_owned(), value);
        let values = match kind {
            Kind::Lamp => vec![
                v("on", Value::Boolean(false)),
                v("brightness", Value::Integer(80)),
            ],
            Kind::Thermostat => vec![
                v("temperature", Value::Number(19.5)),
                v("setpoint", Value::Number(21.0)),
                v("mode", Value::Text("heat".into())),
            ],
            Kind::Plug => vec![
                v("on", Value::Boolean(true)),
                v("power", Value::Number(42.0)),
                v("energy", Value::Number(0.0)),
            ],
            Kind::CameraMotion => vec![
                v("armed", Value::Boolean(true)),
                v("last-motion", Value::Text(String::new())),
            ],
        };
        State { kind, values }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn put(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.values.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value;
        }
    }

    /// The values asked for (all of them when `names` is empty).
    pub fn read(&self, names: &[String]) -> Vec<(String, Value)> {
        self.values
            .iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .cloned()
            .collect()
    }

    /// Applies checked changes; returns the event they cause, if any.
    pub fn apply(&mut self, changes: &[(String, Value)]) -> Option<(&'static str, Element)> {
        let was_on = self.get("on").cloned();
        for (name, value) in changes {
            self.put(name, value.clone());
        }
        if matches!(self.kind, Kind::Plug) && self.get("on") == Some(&Value::Boolean(false)) {
            self.put("power", Value::Number(0.0));
        }
        let now_on = self.get("on").cloned();
        (now_on.is_some() && now_on != was_on).then(|| {
            let on = now_on.map(|v| v.to_string()).unwrap_or_default();
            (
                "switched",
                Element::new("switched", NS_DEVICE).with_attr("on", on),
            )
        })
    }

    /// One second of simulated time: the room drifts toward the setpoint, the plug's load
    /// wanders and meters energy, the camera sometimes sees motion (`motion_chance` per tick).
    pub fn tick(&mut self, motion_chance: f64) -> Option<(&'static str, Element)> {
        let mut rng = rand::thread_rng();
        match self.kind {
            Kind::Lamp => None,
            Kind::Thermostat => {
                let (Some(Value::Number(t)), Some(Value::Number(sp))) = (
                    self.get("temperature").cloned(),
                    self.get("setpoint").cloned(),
                ) else {
                    return None;
                };
                let heating = self.get("mode") != Some(&Value::Text("off".into()));
                let target = if heating { sp } else { 12.0 };
                let next = t + (target - t) * 0.05 + rng.gen_range(-0.05..0.05);
                let next = (next * 100.0).round() / 100.0;
                self.put("temperature", Value::Number(next));
                let changed = (next * 10.0).round() != (t * 10.0).round();
                changed.then(|| {
                    let el = Element::new("temperature", NS_DEVICE)
                        .with_attr("value", next.to_string())
                        .with_attr("unit", "°C");
                    ("temperature", el)
                })
            }
            Kind::Plug => {
                if self.get("on") == Some(&Value::Boolean(true)) {
                    let load = 40.0 + rng.gen_range(-5.0..5.0);
                    let energy = match self.get("energy") {
                        Some(Value::Number(e)) => *e,
                        _ => 0.0,
                    };
                    self.put("power", Value::Number((load * 10.0_f64).round() / 10.0));
                    self.put("energy", Value::Number(energy + load / 3_600_000.0));
                }
                None
            }
            Kind::CameraMotion => {
                let armed = self.get("armed") == Some(&Value::Boolean(true));
                if !armed || !rng.gen_bool(motion_chance.clamp(0.0, 1.0)) {
                    return None;
                }
                let zones = ["hall", "garden", "door", "drive"];
                let zone = zones[rng.gen_range(0..zones.len())];
                let at = unix_seconds();
                self.put("last-motion", Value::Text(at.clone()));
                let el = Element::new("motion", NS_DEVICE)
                    .with_attr("zone", zone)
                    .with_attr("at", at);
                Some(("motion", el))
            }
        }
    }
}

/// Now as unix seconds, the form `last-motion` and motion events carry.
fn unix_seconds() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}")
}

/// How a simulated device behaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Answers to `get`/`set` wait this long (the deferred-result path of a slow device).
    pub response_delay: Duration,
    /// Chance per second that an armed camera sees motion.
    pub motion_chance: f64,
    /// Simulated time step.
    pub tick: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            response_delay: Duration::ZERO,
            motion_chance: 0.05,
            tick: Duration::from_secs(1),
        }
    }
}

/// Runs one simulated device until its connection must stop (account deleted, replaced).
pub async fn run(mut device: Device, kind: Kind, behaviour: Behaviour) -> Result<(), ClientError> {
    let mut state = State::new(kind);
    let mut tick = tokio::time::interval(behaviour.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            request = device.next() => match request? {
                Request::Get(get) => answer_get(&state, get, behaviour.response_delay),
                Request::Set(set) => {
                    if let Some((event, payload)) = state.apply(set.changes()) {
                        device.publish(event, payload)?;
                    }
                    answer_set(set, behaviour.response_delay);
                }
                Request::Stanza(_) => {}
            },
            _ = tick.tick() => {
                if let Some((event, payload)) = state.tick(behaviour.motion_chance) {
                    device.publish(event, payload)?;
                }
            }
        }
    }
}

fn answer_get(state: &State, get: GetRequest, delay: Duration) {
    let values = state.read(get.names());
    later(delay, move || get.reply(Ok(values)));
}

fn answer_set(set: SetRequest, delay: Duration) {
    later(delay, move || set.reply(Ok(())));
}

/// Runs `f` after `delay` without holding up the device loop (at once when zero).
fn later(delay: Duration, f: impl FnOnce() + Send + 'static) {
    if delay.is_zero() {
        f();
        return;
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "a client-side timer of the simulator, not a server task"
    )]
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        f();
    });
}

/// Starts device number `n` of `kind` as `id`, registering it first when it does not exist.
pub async fn start(
    opts: ConnectOptions,
    kind: Kind,
    id: &str,
    password: &str,
    n: usize,
    verification_code: &str,
) -> Result<Device, ClientError> {
    let identity = crate::device::DeviceIdentity::new(id, password)
        .registering(kind.registration(n, verification_code));
    Device::start(opts, identity, kind.description()).await
}
