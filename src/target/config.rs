//! Configuration of the embedded target: addresses, token lifetimes, rate limits, agent think time
//! and the fault knobs, parsed from the strings the command line and profiles use (`60/min`,
//! `latency=50ms`, `stall=200ms/2s`, `ws-crosstalk=0.1`).
//!
//! Every parser here returns an error message that names the input and shows a valid example, so
//! the command line can print it as its one line.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Everything the target needs to start. `Default` is what tests use: both services on
/// 127.0.0.1 port 0, a random secret, the contract's default limits and no faults.
#[derive(Clone, Debug)]
pub struct TargetConfig {
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
}

/// Which state of Netra the target imitates (`shared/netra-api.md`): the reference dialect, or
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

impl Default for TargetConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        TargetConfig {
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

/// A probability in [0, 1], written `0.2` or `20%`.
fn parse_probability(s: &str) -> Result<f64, String> {
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

/// The names `--fault` accepts, with the form of their argument (shown in errors).
pub const FAULT_NAMES: &[&str] = &[
    "idor",
    "list-leak",
    "ws-crosstalk=P",
    "export-leak",
    "no-revoke",
    "refresh-reuse",
    "no-rate-limit",
    "shared-rate-limit",
    "weak-jwt",
    "latency=DUR",
    "slowdown=DUR",
    "stall=DUR/EVERY",
    "error-rate=P",
    "ws-drop=P",
    "garbage=P",
    "hang=AFTER",
    "ws-handshake=DUR",
];

/// One misbehaviour the target can be told to show. Each does exactly what its name says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Another user's thread is readable, writable and deletable over HTTP.
    Idor,
    /// Thread lists include some other users' threads.
    ListLeak,
    /// With this probability an agent event is also sent to another user's connection.
    WsCrosstalk(f64),
    /// The export includes another user's thread and messages.
    ExportLeak,
    /// Logout revokes nothing.
    NoRevoke,
    /// Retired refresh tokens keep working; reuse revokes nothing.
    RefreshReuse,
    NoRateLimit,
    /// One token bucket shared by every user.
    SharedRateLimit,
    /// The backend accepts tokens with any signature, including `alg: none`.
    WeakJwt,
    /// Added to every backend response and agent reply.
    Latency(Duration),
    /// Like `Latency`, growing by this much with every second the target has run: a server
    /// that slows down as data piles up.
    Slowdown(Duration),
    /// The whole backend pauses `pause` at the start of every `every`.
    Stall {
        pause: Duration,
        every: Duration,
    },
    /// Random 500s on `/api/*`.
    ErrorRate(f64),
    /// Random WebSocket closes mid-turn.
    WsDrop(f64),
    /// Random non-JSON bodies with status 200 on `/api/*`.
    Garbage(f64),
    /// From this long after the target's start, the backend answers nothing: requests, upgrades
    /// and agent replies hang (a process that is up but stuck).
    Hang(Duration),
    /// Every WebSocket upgrade is answered this late.
    WsHandshake(Duration),
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Fault, String> {
        let (name, arg) = match s.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (s.trim(), None),
        };
        let needs = |form: &str| format!("fault `{name}` needs a value: write {form}");
        let flag = |fault: Fault| match arg {
            None => Ok(fault),
            Some(_) => Err(format!("fault `{name}` takes no value: write just `{name}`")),
        };
        let prob = |make: fn(f64) -> Fault, form: &str| {
            arg.ok_or_else(|| needs(form)).and_then(parse_probability).map(make)
        };
        let dur = |make: fn(Duration) -> Fault, form: &str| {
            arg.ok_or_else(|| needs(form)).and_then(parse_duration).map(make)
        };
        match name {
            "idor" => flag(Fault::Idor),
            "list-leak" => flag(Fault::ListLeak),
            "export-leak" => flag(Fault::ExportLeak),
            "no-revoke" => flag(Fault::NoRevoke),
            "refresh-reuse" => flag(Fault::RefreshReuse),
            "no-rate-limit" => flag(Fault::NoRateLimit),
            "shared-rate-limit" => flag(Fault::SharedRateLimit),
            "weak-jwt" => flag(Fault::WeakJwt),
            "ws-crosstalk" => prob(Fault::WsCrosstalk, "ws-crosstalk=0.1"),
            "error-rate" => prob(Fault::ErrorRate, "error-rate=0.2"),
            "ws-drop" => prob(Fault::WsDrop, "ws-drop=0.1"),
            "garbage" => prob(Fault::Garbage, "garbage=0.1"),
            "hang" => dur(Fault::Hang, "hang=2s"),
            "ws-handshake" => dur(Fault::WsHandshake, "ws-handshake=3s"),
            "latency" => dur(Fault::Latency, "latency=50ms"),
            "slowdown" => dur(Fault::Slowdown, "slowdown=10ms"),
            "stall" => {
                let arg = arg.ok_or_else(|| needs("stall=200ms/2s"))?;
                let (pause, every) = arg
                    .split_once('/')
                    .ok_or_else(|| format!("invalid stall `{arg}`: write DUR/EVERY, e.g. stall=200ms/2s"))?;
                let (pause, every) = (parse_duration(pause)?, parse_duration(every)?);
                if pause.is_zero() || pause >= every {
                    return Err(format!(
                        "invalid stall `{arg}`: the pause must be above zero and shorter than the period"
                    ));
                }
                Ok(Fault::Stall { pause, every })
            }
            _ => Err(format!("unknown fault `{name}`; known faults: {}", FAULT_NAMES.join(", "))),
        }
    }
}

impl fmt::Display for Fault {
    /// The form `--fault` accepts, so a printed fault can be pasted back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            Fault::Idor => f.write_str("idor"),
            Fault::ListLeak => f.write_str("list-leak"),
            Fault::WsCrosstalk(p) => write!(f, "ws-crosstalk={p}"),
            Fault::ExportLeak => f.write_str("export-leak"),
            Fault::NoRevoke => f.write_str("no-revoke"),
            Fault::RefreshReuse => f.write_str("refresh-reuse"),
            Fault::NoRateLimit => f.write_str("no-rate-limit"),
            Fault::SharedRateLimit => f.write_str("shared-rate-limit"),
            Fault::WeakJwt => f.write_str("weak-jwt"),
            Fault::Latency(l) => write!(f, "latency={}", d(l)),
            Fault::Slowdown(l) => write!(f, "slowdown={}", d(l)),
            Fault::Stall { pause, every } => write!(f, "stall={}/{}", d(pause), d(every)),
            Fault::ErrorRate(p) => write!(f, "error-rate={p}"),
            Fault::WsDrop(p) => write!(f, "ws-drop={p}"),
            Fault::Garbage(p) => write!(f, "garbage={p}"),
            Fault::Hang(after) => write!(f, "hang={}", d(after)),
            Fault::WsHandshake(l) => write!(f, "ws-handshake={}", d(l)),
        }
    }
}

/// The active faults, flattened so that hot paths test a field instead of scanning a list.
/// Probabilities are 0 when off.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub idor: bool,
    pub list_leak: bool,
    pub ws_crosstalk: f64,
    pub export_leak: bool,
    pub no_revoke: bool,
    pub refresh_reuse: bool,
    pub no_rate_limit: bool,
    pub shared_rate_limit: bool,
    pub weak_jwt: bool,
    pub latency: Option<Duration>,
    pub slowdown: Option<Duration>,
    pub stall: Option<(Duration, Duration)>,
    pub error_rate: f64,
    pub ws_drop: f64,
    pub garbage: f64,
    pub hang: Option<Duration>,
    pub ws_handshake: Option<Duration>,
}

impl Faults {
    /// Combines faults; a later value of the same fault replaces an earlier one.
    pub fn from_list(list: &[Fault]) -> Result<Faults, String> {
        let mut f = Faults::default();
        for fault in list {
            match *fault {
                Fault::Idor => f.idor = true,
                Fault::ListLeak => f.list_leak = true,
                Fault::WsCrosstalk(p) => f.ws_crosstalk = p,
                Fault::ExportLeak => f.export_leak = true,
                Fault::NoRevoke => f.no_revoke = true,
                Fault::RefreshReuse => f.refresh_reuse = true,
                Fault::NoRateLimit => f.no_rate_limit = true,
                Fault::SharedRateLimit => f.shared_rate_limit = true,
                Fault::WeakJwt => f.weak_jwt = true,
                Fault::Latency(d) => f.latency = Some(d),
                Fault::Slowdown(d) => f.slowdown = Some(d),
                Fault::Stall { pause, every } => f.stall = Some((pause, every)),
                Fault::ErrorRate(p) => f.error_rate = p,
                Fault::WsDrop(p) => f.ws_drop = p,
                Fault::Garbage(p) => f.garbage = p,
                Fault::Hang(after) => f.hang = Some(after),
                Fault::WsHandshake(l) => f.ws_handshake = Some(l),
            }
        }
        if f.no_rate_limit && f.shared_rate_limit {
            return Err(
                "faults `no-rate-limit` and `shared-rate-limit` contradict each other: keep one".into()
            );
        }
        Ok(f)
    }

    pub fn is_clean(&self) -> bool {
        *self == Faults::default()
    }
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
    fn faults_parse_with_their_values_and_refuse_bad_ones() {
        assert_eq!("idor".parse::<Fault>(), Ok(Fault::Idor));
        assert_eq!("ws-crosstalk=25%".parse::<Fault>(), Ok(Fault::WsCrosstalk(0.25)));
        assert_eq!(
            "stall=200ms/2s".parse::<Fault>(),
            Ok(Fault::Stall { pause: Duration::from_millis(200), every: Duration::from_secs(2) })
        );
        assert_eq!("latency=50ms".parse::<Fault>(), Ok(Fault::Latency(Duration::from_millis(50))));
        for written in ["stall=200ms/2s", "ws-drop=0.5", "no-revoke", "latency=1s 500ms"] {
            assert_eq!(written.parse::<Fault>().unwrap().to_string(), written);
        }
        let unknown = "idorr".parse::<Fault>().unwrap_err();
        assert!(unknown.contains("unknown fault `idorr`") && unknown.contains("list-leak"));
        assert!("latency".parse::<Fault>().unwrap_err().contains("latency=50ms"));
        assert!("idor=1".parse::<Fault>().is_err());
        assert!("error-rate=1.5".parse::<Fault>().is_err());
        assert!("stall=2s/1s".parse::<Fault>().is_err());
    }

    #[test]
    fn contradictory_faults_are_refused() {
        assert!(Faults::from_list(&[Fault::NoRateLimit, Fault::SharedRateLimit]).is_err());
        let f = Faults::from_list(&[Fault::ErrorRate(0.1), Fault::ErrorRate(0.3)]).unwrap();
        assert_eq!(f.error_rate, 0.3);
        assert!(Faults::default().is_clean() && !f.is_clean());
    }

    #[test]
    fn secret_debug_never_shows_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert!(!format!("{:?}", TargetConfig { jwt_secret: s, ..Default::default() }).contains("hunter2"));
    }
}
