//! Topics of the gateway's event bus: one per device and event (`devices/{deviceId}/{event}`)
//! and one per user for the results of deferred operations (`users/{userId}/results`). A
//! listener names what it wants with a filter in MQTT's syntax, which people who wire homes
//! already know: `+` is one level, a final `#` is any number of levels.

use std::fmt;

use crate::model::{CuiError, DeviceId};

/// Levels a filter may have; topics have three.
const MAX_LEVELS: usize = 8;

/// The topic of one event of one device.
pub fn device_event(device: &DeviceId, event: &str) -> String {
    format!("devices/{device}/{event}")
}

/// The topic of a user's deferred results.
pub fn results_of(user: &str) -> String {
    format!("users/{user}/results")
}

/// What a listener wants to hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Exactly(String),
    /// `+`
    Any,
    /// `#`, only last.
    Rest,
}

impl TopicFilter {
    /// A filter such as `devices/+/property` or `devices/igrs:lamp-1/#`.
    pub fn parse(filter: &str) -> Result<TopicFilter, CuiError> {
        let bad = |why: &str| CuiError::bad_request(format!("topic filter {filter:?}: {why}"));
        let parts: Vec<&str> = filter.split('/').collect();
        if filter.is_empty() || parts.len() > MAX_LEVELS {
            return Err(bad("1 to 8 levels separated by /"));
        }
        let last = parts.len() - 1;
        let levels = parts
            .iter()
            .enumerate()
            .map(|(i, part)| match *part {
                "+" => Ok(Level::Any),
                "#" if i == last => Ok(Level::Rest),
                "#" => Err(bad("# is only the last level")),
                "" => Err(bad("a level is never empty")),
                p if p.contains(['+', '#']) => Err(bad("+ and # stand alone in their level")),
                p => Ok(Level::Exactly(p.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TopicFilter { levels })
    }

    /// Whether `topic` is one this filter wants.
    pub fn admits(&self, topic: &str) -> bool {
        let mut parts = topic.split('/');
        for level in &self.levels {
            match (level, parts.next()) {
                (Level::Rest, _) => return true,
                (_, None) => return false,
                (Level::Any, Some(_)) => {}
                (Level::Exactly(want), Some(part)) if want == part => {}
                (Level::Exactly(_), Some(_)) => return false,
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, level) in self.levels.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match level {
                Level::Exactly(s) => f.write_str(s)?,
                Level::Any => f.write_str("+")?,
                Level::Rest => f.write_str("#")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lamp() -> DeviceId {
        DeviceId::parse("igrs:lamp-1").expect("valid")
    }

    #[test]
    fn filters_match_levels_as_mqtt_does() {
        let topic = device_event(&lamp(), "property");
        assert_eq!(topic, "devices/igrs:lamp-1/property");
        for wants in [
            "devices/igrs:lamp-1/property",
            "devices/+/property",
            "devices/#",
            "#",
            "+/+/+",
            "devices/igrs:lamp-1/#",
        ] {
            let filter = TopicFilter::parse(wants).expect("valid");
            assert!(filter.admits(&topic), "{wants}");
            assert_eq!(filter.to_string(), wants);
        }
        for refuses in [
            "devices/+/online",
            "devices/igrs:lamp-2/#",
            "devices/+",
            "devices/+/property/more",
            "users/#",
        ] {
            let filter = TopicFilter::parse(refuses).expect("valid");
            assert!(!filter.admits(&topic), "{refuses}");
        }
    }

    #[test]
    fn malformed_filters_are_refused() {
        for bad in [
            "",
            "devices/#/property",
            "devices//x",
            "dev+ices/#",
            "a/b/c/d/e/f/g/h/i",
        ] {
            let e = TopicFilter::parse(bad).expect_err(bad);
            assert_eq!(e.code, crate::model::ErrorCode::BadRequest, "{bad}");
        }
    }
}
