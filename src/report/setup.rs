//! What two runs were set up to do, side by side: the load's shape (profile, users, personas,
//! segment, arrival model) and the kind of target, which `compare` refuses to mix unless told
//! to (the figures would measure different loads), and what is only shown: the target's own
//! behaviour (faults, the embedded target's settings, URLs: a candidate release behaves
//! differently by design, and a fault is how one is simulated), the run's length, the tool.

use super::Report;

/// One set-up item that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub item: &'static str,
    pub baseline: String,
    pub candidate: String,
    /// Whether the figures of the two runs stop measuring the same thing.
    pub blocks: bool,
}

impl Difference {
    pub fn describe(&self) -> String {
        format!("{} {} vs {}", self.item, self.baseline, self.candidate)
    }
}

/// The set-up items as (item, value, whether a difference blocks).
fn items(r: &Report) -> Vec<(&'static str, String, bool)> {
    let run = &r.run;
    let segment = run.part().unwrap_or_else(|| "whole run".to_owned());
    let personas: Vec<String> = run
        .personas
        .iter()
        .map(|p| format!("{}x{} ({}, {})", p.name, p.weight, p.journey, p.plan_tier))
        .collect();
    let faults = if run.target.faults.is_empty() { "none".to_owned() } else { run.target.faults.join(", ") };
    let arrival = r.arrival.as_ref().map_or("closed model".to_owned(), |a| {
        format!("open model, {:.1}/s, at most {} in flight", a.per_second, a.max_in_flight)
    });
    // What the tool waits out (a token's expiry, a Retry-After) is set here: another setting
    // changes the tool's waits, not the target's speed. The agent's latency is the target's.
    let waits = run.embedded_target.as_ref().map_or("-".to_owned(), |e| {
        format!(
            "rate limit {}, burst {}, access ttl {} s, refresh ttl {} s",
            e.rate_limit, e.burst, e.access_ttl_s, e.refresh_ttl_s
        )
    });
    let agent = run.embedded_target.as_ref().map_or("-".to_owned(), |e| format!("{} ms", e.agent_latency_ms));
    // An embedded target listens on a new port every run: its URLs say nothing.
    let urls = match run.target.kind.as_str() {
        "embedded" => "-".to_owned(),
        _ => format!("auth {}, backend {}", run.target.auth_url, run.target.backend_url),
    };
    let length = match (run.run_time_s, run.iterations) {
        (Some(t), _) => format!("{t:.0} s"),
        (None, Some(n)) => format!("{n} iterations"),
        (None, None) => "-".to_owned(),
    };
    vec![
        ("profile", run.profile.clone(), true),
        ("users", run.users.to_string(), true),
        ("segment", segment, true),
        ("personas", personas.join(", "), true),
        ("arrival", arrival, true),
        ("target", run.target.kind.clone(), true),
        ("faults", faults, false),
        ("embedded target", waits, true),
        ("embedded agent latency", agent, false),
        ("target URLs", urls, false),
        ("increase rate", format!("{}/s", run.increase_rate), false),
        ("run length", length, false),
        ("tool", format!("{} {}", r.tool.name, r.tool.version), false),
    ]
}

/// What differs between the two runs' set-ups, the blocking items first.
pub fn differences(base: &Report, cand: &Report) -> Vec<Difference> {
    let mut out: Vec<Difference> = items(base)
        .into_iter()
        .zip(items(cand))
        .filter(|((_, b, _), (_, c, _))| b != c)
        .map(|((item, baseline, blocks), (_, candidate, _))| Difference { item, baseline, candidate, blocks })
        .collect();
    for d in &mut out {
        d.blocks &= match d.item {
            // A merged run stands for the whole run it was split from; a single segment is a part.
            "segment" => base.run.segment.is_some() || cand.run.segment.is_some(),
            // An embedded target against a deployment: `target` says so already.
            "embedded target" => base.run.embedded_target.is_some() && cand.run.embedded_target.is_some(),
            _ => true,
        };
    }
    out.sort_by_key(|d| !d.blocks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_and_the_target_block_the_rest_is_shown() {
        let base: Report = serde_json::from_str(include_str!("../../tests/data/report-min.json")).unwrap();
        assert!(differences(&base, &base).is_empty(), "a run's set-up equals its own");
        let mut cand = base.clone();
        cand.run.users = base.run.users * 2;
        cand.run.segment = Some("1/2".into());
        cand.run.target.faults = vec!["latency=50ms".into()];
        cand.run.target.auth_url = "http://127.0.0.1:1".into();
        cand.run.run_time_s = Some(999.0);
        let d = differences(&base, &cand);
        let items: Vec<(&str, bool)> = d.iter().map(|d| (d.item, d.blocks)).collect();
        assert_eq!(items, [("users", true), ("segment", true), ("faults", false), ("run length", false)]);
        assert!(d[1].describe().starts_with("segment whole run vs segment 1/2"), "{}", d[1].describe());

        // A merged run against a whole one of the same load: shown, compared.
        let mut merged = base.clone();
        merged.run.merged_from = vec!["1/2".into(), "2/2".into()];
        assert_eq!(
            differences(&base, &merged).iter().map(|d| (d.item, d.blocks)).collect::<Vec<_>>(),
            [("segment", false)]
        );
        // Personas, the model and the tool's own waits block; the agent's latency does not.
        let mut other = base.clone();
        other.run.personas[0].weight += 1;
        let embedded = other.run.embedded_target.as_mut().unwrap();
        embedded.access_ttl_s += 1;
        embedded.agent_latency_ms += 1.0;
        let items: Vec<(&str, bool)> =
            differences(&base, &other).iter().map(|d| (d.item, d.blocks)).collect();
        assert_eq!(items, [("personas", true), ("embedded target", true), ("embedded agent latency", false)]);
    }
}
