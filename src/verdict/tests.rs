use super::*;

/// Figures with nothing in them but what a test sets.
#[derive(Default)]
struct Fake {
    trends: Vec<(String, Result<Trend, String>)>,
    availability: Option<f64>,
    dropped: Option<(u64, u64)>,
    breached: bool,
    defective: bool,
    incomplete: bool,
    users: usize,
}

impl Figures for Fake {
    fn journey(&self, _: &str) -> Option<&Stats> {
        None
    }
    fn persona(&self, _: &str) -> Option<&Stats> {
        None
    }
    fn step(&self, _: &str) -> Stats {
        Stats::default()
    }
    fn cohort(&self, _: usize) -> Option<u64> {
        None
    }
    fn trends(&self, of: TrendOf, _: f64) -> Vec<(String, Result<Trend, String>)> {
        self.trends.iter().filter(|(_, t)| !t.as_ref().is_ok_and(|t| t.of != of)).cloned().collect()
    }
    fn journeys_done_and_failed(&self) -> (u64, u64) {
        (100, 0)
    }
    fn availability(&self) -> Option<f64> {
        self.availability
    }
    fn stall_max(&self) -> Option<u64> {
        Some(10_000)
    }
    fn dropped(&self) -> Option<(u64, u64)> {
        self.dropped
    }
    fn inapplicable(&self, metric: &Metric) -> Option<String> {
        match metric {
            Metric::Cohort(n) if self.users < *n => Some(format!("only {} users", self.users)),
            _ => None,
        }
    }
    fn breached(&self) -> bool {
        self.breached
    }
    fn defective(&self) -> bool {
        self.defective
    }
    fn incomplete(&self) -> bool {
        self.incomplete
    }
}

fn targets(rules: &[(&str, &str)]) -> Vec<Threshold> {
    rules.iter().map(|(n, r)| Threshold::parse(n, r).unwrap()).collect()
}

#[test]
fn breach_wins_over_incomplete_which_wins_over_a_missed_target() {
    let t = targets(&[("availability", "> 90%"), ("errors.rate", "< 1%")]);
    let judged = |f: &Fake| {
        let v = judge(&t, f);
        (v.outcome(), v.exit_code)
    };
    let up = Fake { availability: Some(1.0), ..Fake::default() };
    assert_eq!(judged(&up), (Outcome::Pass, crate::exit::OK));
    let down = Fake { availability: Some(0.5), ..Fake::default() };
    assert_eq!(judged(&down), (Outcome::Fail, crate::exit::MISSED));
    let defect = Fake { defective: true, ..up };
    assert_eq!(judged(&defect), (Outcome::Fail, crate::exit::MISSED), "a reliability defect is no breach");
    let defect_unchecked = Fake { incomplete: true, ..defect };
    assert_eq!(judged(&defect_unchecked).0, Outcome::Incomplete);
    let unchecked = Fake { incomplete: true, ..down };
    assert_eq!(judged(&unchecked), (Outcome::Incomplete, crate::exit::INCOMPLETE));
    let breached = Fake { breached: true, ..unchecked };
    assert_eq!(judged(&breached), (Outcome::Breach, crate::exit::BREACH));
    // Availability is met above its limit, never at it.
    let edge = Fake { availability: Some(0.9), ..Fake::default() };
    assert_eq!(judged(&edge).0, Outcome::Fail);
}

#[test]
fn targets_that_cannot_apply_are_not_run_with_the_reason_and_no_data_still_fails() {
    let t = targets(&[("cohort.10", "< 500ms"), ("dropped.rate", "< 1%"), ("journey.x.p99", "< 1s")]);
    let v = judge(&t, &Fake { users: 5, dropped: Some((200, 1)), ..Fake::default() });
    let cohort = &v.targets[0];
    assert!(
        cohort.not_run && cohort.passed && cohort.reason.as_deref() == Some("only 5 users"),
        "{cohort:?}"
    );
    assert!(v.targets[1].passed && v.targets[1].observed == "0.500%", "{:?}", v.targets[1]);
    assert!(!v.targets[2].passed && v.targets[2].observed == "no data", "a journey that measured nothing");
    let dropping = judge(&t[1..2], &Fake { dropped: Some((100, 19)), ..Fake::default() });
    assert_eq!(dropping.outcome(), Outcome::Fail);
}

#[test]
fn trends_parse_as_percent_changes() {
    let t = Threshold::parse("trend.signup-chat.p50", "< +50%").unwrap();
    let journey = |name: &str| Some(name.to_owned());
    assert_eq!(t.metric, Metric::Trend { of: TrendOf::Journey, name: journey("signup-chat"), quantile: 0.5 });
    let fine = Threshold::parse("trend.step.history.p99.9", "< +50%").unwrap();
    let Metric::Trend { of, name, quantile } = fine.metric else { panic!("{:?}", fine.metric) };
    assert!(of == TrendOf::Step && name == journey("history") && (quantile - 0.999).abs() < 1e-9);
    let every = Threshold::parse("trend.step.*.p50", "< +50%").unwrap();
    assert_eq!(every.metric, Metric::Trend { of: TrendOf::Step, name: None, quantile: 0.5 });
    let one = Threshold::parse("trend.endpoint.GET /api/threads/{id}/messages.p99", "< +20%").unwrap();
    let name = journey("GET /api/threads/{id}/messages");
    assert_eq!(one.metric, Metric::Trend { of: TrendOf::Endpoint, name, quantile: 0.99 });
    assert_eq!(Threshold::parse_expr(&one.expr()).unwrap(), one, "an endpoint's space parses back");
    assert_eq!((t.limit, t.expr().as_str()), (0.5, "trend.signup-chat.p50 < +50%"));
    assert!(Threshold::parse("trend.signup-chat.p50", "< 5s").unwrap_err().contains("percent"));
    assert!(Threshold::parse("trend.signup-chat.max", "< +5%").unwrap_err().contains("percentile"));
}

#[test]
fn targets_parse_and_refuse_nonsense() {
    let t = Threshold::parse("journey.signup-chat.p99", "< 5s").unwrap();
    assert_eq!(t.metric, Metric::Journey { name: "signup-chat".into(), stat: Stat::Quantile(0.99) });
    assert_eq!(t.limit, 5_000_000.0);
    assert_eq!(t.expr(), "journey.signup-chat.p99 < 5s");
    for (name, rule) in [
        ("step.x.p95", "< 1.5s"),
        ("errors.rate", "< 0.5%"),
        ("trend.j.p99", "< -10%"),
        ("availability", "> 95%"),
        ("stall.max", "< 2s"),
        ("dropped.rate", "< 1%"),
    ] {
        let t = Threshold::parse(name, rule).unwrap();
        assert_eq!(Threshold::parse_expr(&t.expr()).unwrap(), t, "{}", t.expr());
    }
    assert_eq!(Threshold::parse("errors.rate", "< 1%").unwrap().limit, 0.01);
    assert_eq!(
        Threshold::parse("persona.abuser.max", "< 15s").unwrap().metric,
        Metric::Persona { name: "abuser".into(), stat: Stat::Max }
    );
    assert_eq!(Threshold::parse("cohort.10", "<500ms").unwrap().metric, Metric::Cohort(10));
    assert_eq!(
        Threshold::parse("step.first_reply.p99.9", "< 3s").unwrap().metric,
        Metric::Step { name: "first_reply".into(), stat: Stat::Quantile(99.9 / 100.0) }
    );
    for (name, rule) in [
        ("journey.x.p101", "< 1s"),
        ("cohort.0", "< 1s"),
        ("speed", "< 1s"),
        ("errors.rate", "> 1%"),
        ("journey.x.p99", "< soon"),
        ("availability", "< 95%"),
        ("stall.max", "> 1s"),
        ("dropped.rate", "< lots"),
        ("availability", "> 150%"),
    ] {
        assert!(Threshold::parse(name, rule).is_err(), "{name} {rule}");
    }
}

fn trend(of: TrendOf, name: &str, first_us: u64, last_us: u64) -> (String, Result<Trend, String>) {
    let t = Trend {
        of,
        name: name.to_owned(),
        quantile: 0.5,
        first_us,
        last_us,
        first_samples: 40,
        last_samples: 30,
        first_s: (1.0, 2.0),
        last_s: (9.0, 10.0),
    };
    (name.to_owned(), Ok(t))
}

#[test]
fn a_step_trend_names_the_worst_step_and_is_not_run_without_samples() {
    let every = [Threshold::parse("trend.step.*.p50", "< +50%").unwrap()];
    let steps = vec![
        trend(TrendOf::Step, "login", 10_000, 11_000),
        trend(TrendOf::Step, "history", 2_000, 9_000),
        // Tripled, but by less than a millisecond: noise.
        trend(TrendOf::Step, "health", 200, 600),
    ];
    let v = judge(&every, &Fake { trends: steps, ..Fake::default() });
    let r = &v.targets[0];
    assert!(
        !r.passed && r.observed.starts_with("+350.0% (step history: 2.000ms -> 9.000ms, 40 and 30 samples)"),
        "{r:?}"
    );
    let calm = vec![trend(TrendOf::Step, "login", 10_000, 11_000), trend(TrendOf::Step, "health", 200, 600)];
    let v = judge(&every, &Fake { trends: calm, ..Fake::default() });
    assert!(
        v.targets[0].passed && v.targets[0].observed.starts_with("+10.0% (step login"),
        "{:?}",
        v.targets[0]
    );
    let thin = vec![("login".to_owned(), Err("too few samples: 3 at the steady phase's start".to_owned()))];
    let v = judge(&every, &Fake { trends: thin, ..Fake::default() });
    let r = &v.targets[0];
    assert!(r.not_run && r.reason.as_deref().unwrap().contains("too few samples: 3"), "{r:?}");
    assert_eq!(v.outcome(), Outcome::Pass);
}
