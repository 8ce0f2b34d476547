//! The faults the reference server can be told to show, one entry each in the table below: its
//! name (`--fault NAME[=VALUE]`), its value's kind, and the field of [`Faults`] it sets. The
//! enum, the names `--fault` accepts, the parser, the printed form and the flattened [`Faults`]
//! all derive from the table; a fault's behaviour is where its field is read (guard, agent, ...).
//!
//! Values: a probability (`0.2` or `20%`), a duration (`50ms`, `2s`), or a pause and its period
//! (`200ms/2s`). Every parse error names the input and shows a valid example.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::config::{parse_duration_within, parse_probability};

/// The longest duration a fault takes: a day (a run lasts at most a week, and a pause or a delay
/// of more than a day is a typo).
pub const MAX_FAULT_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The kind of value a fault takes, and how it sits in [`Faults`] (off is the default).
pub trait FaultValue: Copy + PartialEq + fmt::Debug + Sized {
    type Field: Clone + Default + PartialEq + fmt::Debug;
    fn parse(name: &str, text: &str) -> Result<Self, String>;
    fn show(&self) -> String;
    fn on(self) -> Self::Field;
}

/// A probability: with it, each request or event misbehaves.
impl FaultValue for f64 {
    type Field = f64;

    fn parse(_: &str, text: &str) -> Result<f64, String> {
        parse_probability(text)
    }

    fn show(&self) -> String {
        self.to_string()
    }

    fn on(self) -> f64 {
        self
    }
}

impl FaultValue for Duration {
    type Field = Option<Duration>;

    fn parse(name: &str, text: &str) -> Result<Duration, String> {
        parse_duration_within(text, Duration::ZERO, MAX_FAULT_DURATION).map_err(|e| format!("{name}: {e}"))
    }

    fn show(&self) -> String {
        humantime::format_duration(*self).to_string()
    }

    fn on(self) -> Option<Duration> {
        Some(self)
    }
}

/// A pause and its period: `DUR/EVERY`, the pause above zero and shorter than the period.
impl FaultValue for (Duration, Duration) {
    type Field = Option<(Duration, Duration)>;

    fn parse(name: &str, text: &str) -> Result<(Duration, Duration), String> {
        let (pause, every) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid {name} `{text}`: write DUR/EVERY, e.g. {name}=200ms/2s"))?;
        let within = |d| {
            parse_duration_within(d, Duration::ZERO, MAX_FAULT_DURATION).map_err(|e| format!("{name}: {e}"))
        };
        let (pause, every) = (within(pause)?, within(every)?);
        if pause.is_zero() || pause >= every {
            return Err(format!(
                "invalid {name} `{text}`: the pause must be above zero and shorter than the period"
            ));
        }
        Ok((pause, every))
    }

    fn show(&self) -> String {
        format!("{}/{}", self.0.show(), self.1.show())
    }

    fn on(self) -> Option<(Duration, Duration)> {
        Some(self)
    }
}

macro_rules! faults {
    (
        flags { $($(#[doc = $fdoc:literal])* $flag:ident = $fname:literal => $ffield:ident;)* }
        values { $($(#[doc = $vdoc:literal])* $variant:ident($ty:ty) = $vname:literal, $form:literal, $example:literal => $vfield:ident;)* }
    ) => {
        /// One misbehaviour the reference server can be told to show. Each does exactly what its
        /// name says.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Fault {
            $($(#[doc = $fdoc])* $flag,)*
            $($(#[doc = $vdoc])* $variant($ty),)*
        }

        /// The names `--fault` accepts, with the form of their value (shown in errors and
        /// listed in the README).
        pub const FAULT_NAMES: &[&str] = &[$($fname,)* $(concat!($vname, "=", $form),)*];

        /// Each fault with a valid value, in the same order (the tests try each).
        #[cfg(test)]
        const FAULT_EXAMPLES: &[&str] = &[$($fname,)* $(concat!($vname, "=", $example),)*];

        /// The active faults, flattened so that hot paths test a field instead of scanning a
        /// list. Probabilities are 0 when off.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Faults {
            $($(#[doc = $fdoc])* pub $ffield: bool,)*
            $($(#[doc = $vdoc])* pub $vfield: <$ty as FaultValue>::Field,)*
        }

        impl FromStr for Fault {
            type Err = String;

            fn from_str(s: &str) -> Result<Fault, String> {
                let (name, arg) = match s.split_once('=') {
                    Some((name, arg)) => (name.trim(), Some(arg.trim())),
                    None => (s.trim(), None),
                };
                match (name, arg) {
                    $(($fname, None) => Ok(Fault::$flag),)*
                    $(($fname, Some(_)) => Err(format!("fault `{name}` takes no value: write just `{name}`")),)*
                    $(($vname, Some(arg)) => <$ty as FaultValue>::parse(name, arg).map(Fault::$variant),)*
                    $(($vname, None) => Err(format!(concat!("fault `{}` needs a value: write ", $vname, "=", $example), name)),)*
                    _ => Err(format!("unknown fault `{name}`; known faults: {}", FAULT_NAMES.join(", "))),
                }
            }
        }

        impl fmt::Display for Fault {
            /// The form `--fault` accepts, so a printed fault can be pasted back.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Fault::$flag => f.write_str($fname),)*
                    $(Fault::$variant(value) => write!(f, "{}={}", $vname, value.show()),)*
                }
            }
        }

        impl Faults {
            /// Turns `fault` on; a later value of the same fault replaces an earlier one.
            fn set(&mut self, fault: Fault) {
                match fault {
                    $(Fault::$flag => self.$ffield = true,)*
                    $(Fault::$variant(value) => self.$vfield = value.on(),)*
                }
            }
        }
    };
}

faults! {
    flags {
        /// Another user's thread is readable, writable and deletable over HTTP.
        Idor = "idor" => idor;
        /// Thread lists include some other users' threads.
        ListLeak = "list-leak" => list_leak;
        /// The export includes another user's thread and messages.
        ExportLeak = "export-leak" => export_leak;
        /// Logout revokes nothing.
        NoRevoke = "no-revoke" => no_revoke;
        /// Retired refresh tokens keep working; reuse revokes nothing.
        RefreshReuse = "refresh-reuse" => refresh_reuse;
        /// No rate limiting and no `X-RateLimit-*` headers.
        NoRateLimit = "no-rate-limit" => no_rate_limit;
        /// One token bucket shared by every user.
        SharedRateLimit = "shared-rate-limit" => shared_rate_limit;
        /// The backend accepts tokens with any signature, including `alg: none`.
        WeakJwt = "weak-jwt" => weak_jwt;
        /// The auth service (`me`, `verify`, `validate`, `logout`) accepts access tokens with any
        /// signature, including `alg: none`: an auth service tested alone shows it.
        WeakAuthJwt = "weak-auth-jwt" => weak_auth_jwt;
        /// A refusal of another user's thread quotes the thread's title (its owner's data) in
        /// its error body.
        ErrorEcho = "error-echo" => error_echo;
        /// The login accepts any password for an existing account.
        AnyPassword = "any-password" => any_password;
        /// Tokens carry no `jti` and are known by user, type and issue second: two issued to one
        /// user in the same second (two logins, a refresh) are byte-identical.
        NoJti = "no-jti" => no_jti;
        /// A refresh issues its access token under another email than the user's.
        RefreshIdentity = "refresh-identity" => refresh_identity;
        /// `POST /auth/validate` checks no expiry (an expired token is valid), and a token
        /// without `exp` makes it answer 500.
        LaxValidate = "lax-validate" => lax_validate;
        /// A message's usage is read, then written back a moment later: messages of one user
        /// counted at once lose updates (`used` in the quota falls short).
        LostUsage = "lost-usage" => lost_usage;
    }
    values {
        /// With this probability an agent event is also sent to another user's connection.
        WsCrosstalk(f64) = "ws-crosstalk", "P", "0.1" => ws_crosstalk;
        /// Added to every backend response and agent reply.
        Latency(Duration) = "latency", "DUR", "50ms" => latency;
        /// Like `latency`, growing by this much with every second the target has run: a server
        /// that slows down as data piles up.
        Slowdown(Duration) = "slowdown", "DUR", "10ms" => slowdown;
        /// The whole backend pauses (the first value) at the start of every period (the second).
        Stall((Duration, Duration)) = "stall", "DUR/EVERY", "200ms/2s" => stall;
        /// Random 500s on `/api/*`.
        ErrorRate(f64) = "error-rate", "P", "0.2" => error_rate;
        /// With this probability a registration or login fails with a 500 while another is in
        /// flight (a race on a unique column); one at a time, none fails.
        Race500(f64) = "race-500", "P", "0.5" => race_500;
        /// Random WebSocket closes mid-turn.
        WsDrop(f64) = "ws-drop", "P", "0.1" => ws_drop;
        /// Random non-JSON bodies with status 200 on `/api/*`.
        Garbage(f64) = "garbage", "P", "0.1" => garbage;
        /// From this long after the target's start, the backend answers nothing: requests,
        /// upgrades and agent replies hang (a process that is up but stuck).
        Hang(Duration) = "hang", "AFTER", "2s" => hang;
        /// Every WebSocket upgrade is answered this late.
        WsHandshake(Duration) = "ws-handshake", "DUR", "3s" => ws_handshake;
    }
}

impl Faults {
    /// Combines faults (a later value of the same fault replaces an earlier one), refusing those
    /// that contradict each other.
    pub fn from_list(list: &[Fault]) -> Result<Faults, String> {
        let mut f = Faults::default();
        for fault in list {
            f.set(*fault);
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
    fn faults_parse_with_their_values_and_refuse_bad_ones() {
        assert_eq!("idor".parse::<Fault>(), Ok(Fault::Idor));
        assert_eq!("ws-crosstalk=25%".parse::<Fault>(), Ok(Fault::WsCrosstalk(0.25)));
        assert_eq!(
            "stall=200ms/2s".parse::<Fault>(),
            Ok(Fault::Stall((Duration::from_millis(200), Duration::from_secs(2))))
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
    fn every_fault_is_named_once_does_something_and_is_explained_in_the_readme() {
        let readme = include_str!("../../README.md");
        for (i, (form, example)) in FAULT_NAMES.iter().zip(FAULT_EXAMPLES).enumerate() {
            let name = form.split('=').next().unwrap();
            assert!(!FAULT_NAMES[..i].iter().any(|f| f.split('=').next() == Some(name)), "{name} twice");
            assert!(readme.contains(&format!("| `{form}` |")), "README's fault table lacks `{form}`");
            let fault: Fault = example.parse().unwrap_or_else(|e| panic!("{example}: {e}"));
            assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault), "{example} prints back");
            assert!(!Faults::from_list(&[fault]).unwrap().is_clean(), "{example} turns nothing on");
        }
    }

    #[test]
    fn contradictory_faults_are_refused() {
        assert!(Faults::from_list(&[Fault::NoRateLimit, Fault::SharedRateLimit]).is_err());
        let f = Faults::from_list(&[Fault::ErrorRate(0.1), Fault::ErrorRate(0.3)]).unwrap();
        assert_eq!(f.error_rate, 0.3);
        assert!(Faults::default().is_clean() && !f.is_clean());
    }
}
