//! Configuration of the reference server: addresses, token lifetimes, rate limits, agent think
//! time, the dialect and the faults (`faults.rs`), parsed from the strings the command line and
//! profiles use (`60/min`, `900s`, `0.2`).
//!
//! Every parser here returns an error message that names the input and shows a valid example, so
//! the command line can print it as its one line.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

use super::faults::Faults;

/// Everything the target needs to start. `Default` is what tests use: both services on
/// 127.0.0.1 port 0, a random secret, the contract's default limits and no faults.
#[derive(Clone, Debug)]
pub struct ReferenceConfig {
    pub auth_addr: SocketAddr,
    pub backend_addr: SocketAddr,
    pub jwt_secret: Secret,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub rate: Rate,
    /// Capacity of each user's token bucket: how many requests a fresh user may send at once.
    pub burst: u32,
    /// Total think time of the simulated agent for one chat turn.
    pub agent_latency: Duration,
    pub faults: Faults,
    pub dialect: Dialect,
    /// Which connections an agent turn's events reach.
    pub ws_fanout: WsFanout,
    /// Whether the agent's reply quotes the message (the contract's); without, it answers as a
    /// model would, in words of its own.
    pub reply_quotes: bool,
}

/// Which of a user's WebSocket connections an agent turn's events reach. The contract allows
/// both readings (`docs/netra-api.md`): every connection of the thread's owner, or only the one
/// that sent the message (a turn posted over REST still reaches the owner's connections).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::Display, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum WsFanout {
    /// Every connection of the thread's owner (the reference's reading).
    #[default]
    Owner,
    /// Only the connection the message came from.
    Origin,
}

impl WsFanout {
    /// Parses `owner` or `origin`, naming both on anything else.
    pub fn parse(text: &str) -> Result<WsFanout, String> {
        text.trim().parse().map_err(|_| format!("unknown ws_fanout `{text}`; known: owner, origin"))
    }
}

/// Which state of Netra the target imitates (`docs/netra-api.md`): the reference dialect, or
/// the early real release "s1" (no register, dev login and tester-minted tokens, users mapped by
/// email, `/api/threads/` with the slash, WebSocket at `/ws/secure` with an `Origin` check and
/// base64url subprotocol tokens, `start_agent`, error bodies `{error, error_code, message}`, no
/// rate limit, logout that revokes nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    #[default]
    Reference,
    S1,
    /// The later release: register, tokens with `aud: netra-platform`, `jti` and `env`, logout
    /// revokes, `/api/threads` with or without the slash, `POST messages {message}`, the WebSocket
    /// at `/ws` accepted first and then authenticated (a bad token: an `error` frame and close
    /// 1008), `chat_message` besides `user_message`, CSV export, no rate limit.
    Beta,
}

impl FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Dialect, String> {
        match s.trim() {
            "reference" => Ok(Dialect::Reference),
            "s1" => Ok(Dialect::S1),
            "beta" => Ok(Dialect::Beta),
            other => Err(format!("unknown dialect `{other}`; known: reference, s1, beta")),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Reference => "reference",
            Dialect::S1 => "s1",
            Dialect::Beta => "beta",
        })
    }
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        ReferenceConfig {
            auth_addr: loopback,
            backend_addr: loopback,
            jwt_secret: Secret::random(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            rate: Rate { count: 60, per: Duration::from_secs(60) },
            burst: 20,
            agent_latency: Duration::from_millis(5),
            faults: Faults::default(),
            dialect: Dialect::Reference,
            ws_fanout: WsFanout::Owner,
            reply_quotes: true,
        }
    }
}

/// The JWT signing secret. Its `Debug` never shows the value, so a config can be logged.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// 32 random bytes, hex encoded.
    pub fn random() -> Secret {
        let bytes: [u8; 32] = rand::rng().random();
        Secret(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A refill rate: `count` requests per `per`, written `60/min`, `10/s`, `1000/h` or `5/10s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        f64::from(self.count) / self.per.as_secs_f64()
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("invalid rate `{s}`: expected COUNT/PERIOD, e.g. 60/min, 10/s, 5/10s");
        let (count, period) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match period.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => parse_duration(other).map_err(|_| bad())?,
        };
        if count == 0 || per.is_zero() {
            return Err(format!("invalid rate `{s}`: count and period must be above zero"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 if self.per.subsec_nanos() == 0 => write!(f, "{}/s", self.count),
            60 if self.per.subsec_nanos() == 0 => write!(f, "{}/min", self.count),
            3600 if self.per.subsec_nanos() == 0 => write!(f, "{}/h", self.count),
            _ => write!(f, "{}/{}", self.count, humantime::format_duration(self.per)),
        }
    }
}

/// Parses `900s`, `7d`, `5ms`, `1m 30s` (humantime syntax) with a message naming the input.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration `{s}`: {e}; write e.g. 50ms, 2s, 15m, 7d"))
}

/// Parses a duration as [`parse_duration`] does, refusing one outside `min..=max` with a message
/// naming the input and the bound.
pub fn parse_duration_within(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    // Whole days as days: humantime would write 365 days as months.
    let show = |d: Duration| match d.as_secs() {
        secs if secs >= 86_400 && secs % 86_400 == 0 && d.subsec_nanos() == 0 => {
            format!("{}d", secs / 86_400)
        }
        _ => humantime::format_duration(d).to_string(),
    };
    if d > max {
        return Err(format!("`{}` is above the limit of {}", s.trim(), show(max)));
    }
    if d < min {
        return Err(format!("`{}` is below the minimum of {}", s.trim(), show(min)));
    }
    Ok(d)
}

/// A probability in [0, 1], written `0.2` or `20%`.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid probability `{s}`: expected a number from 0 to 1, e.g. 0.2 or 20%");
    let value = match s.trim().strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.trim().parse::<f64>().map_err(|_| bad())?,
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(bad());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_every_written_form() {
        assert_eq!("60/min".parse::<Rate>().unwrap().per_second(), 1.0);
        assert_eq!("10/s".parse::<Rate>().unwrap().per_second(), 10.0);
        assert_eq!("5/10s".parse::<Rate>().unwrap().per_second(), 0.5);
        assert_eq!("3600/h".parse::<Rate>().unwrap().to_string(), "3600/h");
        for bad in ["60", "0/min", "x/min", "60/fortnight", "60/0s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn secret_debug_never_shows_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert!(
            !format!("{:?}", ReferenceConfig { jwt_secret: s, ..Default::default() }).contains("hunter2")
        );
    }
}
