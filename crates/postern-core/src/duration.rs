//! Human durations in config files: `"500ms"`, `"90s"`, `"30m"`, `"12h"`, `"30d"`, `"1h30m"`.
//!
//! The grammar is `humantime`'s (units `ms`, `s`, `m`, `h`, `d`, `w` and their long names,
//! fractions such as `1.5h`, pairs combined with or without spaces), with one addition on
//! purpose: a bare number is seconds, as TOML integers and environment variables have always
//! been read. Display stays `"90s"` / `"250ms"`, which both read back.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration written the way operators write them. A bare number is seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a duration (write it like \"90s\", \"30m\", \"12h\" or \"30d\")")]
pub struct DurationError(String);

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if let Ok(secs) = trimmed.parse::<u64>() {
            return Ok(Self::from_secs(secs));
        }
        humantime::parse_duration(trimmed)
            .map(Self)
            .map_err(|_| DurationError(text.to_owned()))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30m\" or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration::from_secs(secs))
            }
            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<HumanDuration, E> {
                u64::try_from(secs)
                    .map(HumanDuration::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let parse = |s: &str| s.parse::<HumanDuration>().map(HumanDuration::as_secs);
        assert_eq!(parse("90s"), Ok(90));
        assert_eq!(parse("30m"), Ok(1800));
        assert_eq!(parse("12h"), Ok(43_200));
        assert_eq!(parse("30d"), Ok(2_592_000));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("45"), Ok(45));
        // humantime's grammar: fractions, spaces and long unit names.
        assert_eq!(parse("1.5h"), Ok(5400));
        assert_eq!(parse("1h 30m"), Ok(5400));
        assert_eq!(parse("2 days"), Ok(172_800));
        assert_eq!(
            "250ms".parse::<HumanDuration>().map(|d| d.0),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            "1s500ms".parse::<HumanDuration>().map(|d| d.0),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "m",
            "10x",
            "-3s",
            "h10",
            "99999999999999999999d",
            "10m5",
        ] {
            assert!(
                bad.parse::<HumanDuration>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
