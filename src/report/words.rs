//! Words for people: counts with the right plural, and the run's observed values as sentences a
//! tester reads (`report.json` keeps the names and figures).

use super::ObservationReport;

/// `1 finding`, `2 findings`, `0 findings`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {}", plural(noun)) }
}

fn plural(noun: &str) -> String {
    match noun {
        "was" => "were".into(),
        "entry" => "entries".into(),
        "canary" => "canaries".into(),
        n if n.ends_with('s') => n.into(),
        n => format!("{n}s"),
    }
}

/// A unit of the coverage ledger (`steps`, `responses scanned`, `probes answered`) for `n`:
/// its first word singular when `n` is 1.
pub fn unit(n: u64, unit: &str) -> String {
    if n != 1 {
        return unit.to_owned();
    }
    let (first, rest) = unit.split_once(' ').map_or((unit, ""), |(f, r)| (f, r));
    let first = first.strip_suffix('s').filter(|s| !s.is_empty() && !first.ends_with("ss")).unwrap_or(first);
    if rest.is_empty() { first.to_owned() } else { format!("{first} {rest}") }
}

/// An observed value as a sentence: what it is, what was seen, what was expected.
pub fn observation(name: &str, o: &ObservationReport) -> String {
    let range = if o.min == o.max {
        o.min.to_string()
    } else {
        format!("{} to {} (mean {:.1})", o.min, o.max, o.mean)
    };
    match name {
        "observed_limit" => {
            let expected = match o.expected {
                Some(e) if o.min == e && o.max == e => format!(", as configured ({e})"),
                Some(e) => format!("; the limit configured is {e}"),
                None => String::new(),
            };
            format!(
                "rate limit: {} got {range} requests through before their first 429{expected}",
                count(o.count, "burst")
            )
        }
        "steps_cut_at_end" => format!(
            "{} in flight when the run ended {} cut short, not counted as failures: each had waited less than {} s on the target, or was waiting on purpose",
            count(o.count, "step"),
            if o.count == 1 { "was" } else { "were" },
            crate::journeys::runner::UNANSWERED.as_secs_f64()
        ),
        _ => {
            let expected = o.expected.map(|e| format!(" (expected {e})")).unwrap_or_default();
            format!("{name}: {range}, over {}{expected}", count(o.count, "observation"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(values: &[u64], expected: Option<u64>) -> ObservationReport {
        let sum: u64 = values.iter().sum();
        ObservationReport {
            count: values.len() as u64,
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
            mean: sum as f64 / values.len().max(1) as f64,
            expected,
        }
    }

    #[test]
    fn counts_and_units_agree_with_their_number() {
        assert_eq!(count(1u64, "finding"), "1 finding");
        assert_eq!(count(0u64, "finding"), "0 findings");
        assert_eq!(count(3u64, "user"), "3 users");
        assert_eq!(unit(1, "probes answered"), "probe answered");
        assert_eq!(unit(1, "steps"), "step");
        assert_eq!(unit(1, "answered"), "answered");
        assert_eq!(unit(2, "probes answered"), "probes answered");
    }

    #[test]
    fn observations_read_as_sentences() {
        let limit = observation("observed_limit", &seen(&[20; 38], Some(20)));
        assert_eq!(
            limit,
            "rate limit: 38 bursts got 20 requests through before their first 429, as configured (20)"
        );
        let off = observation("observed_limit", &seen(&[18, 22], Some(20)));
        assert!(off.contains("18 to 22 (mean 20.0)") && off.ends_with("the limit configured is 20"), "{off}");
        let cut = observation("steps_cut_at_end", &seen(&[1; 20], None));
        assert!(cut.starts_with("20 steps in flight when the run ended were cut short"), "{cut}");
        let one = observation("steps_cut_at_end", &seen(&[1], None));
        assert!(one.starts_with("1 step in flight when the run ended was cut short"), "{one}");
    }
}
