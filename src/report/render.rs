//! Renderers of a [`Report`]: the summary printed on stdout and `report.md`. Both are built from
//! the same rows; only the table syntax differs.

use std::io::{self, Write};

pub(crate) use super::tables::{is_figure, md_table, text_table};
use super::words::{self, count};
use super::{Report, Stats, coverage};
use crate::metrics::format_us;

pub(crate) fn ms(us: u64) -> String {
    format_us(us as f64)
}

fn stats_row(name: String, s: &Stats) -> Vec<String> {
    // Nothing ended: there is no latency to show, not a latency of zero.
    let figure = |us: u64| {
        if s.histogram.is_empty() && s.incomplete.is_empty() { "no data".to_owned() } else { ms(us) }
    };
    vec![
        name,
        s.count.to_string(),
        s.failures.to_string(),
        figure(s.p50_us),
        figure(s.p90_us),
        figure(s.p99_us),
        figure(s.max_us),
    ]
}

/// Journeys and their steps, in journey order.
pub(crate) fn latency_rows(report: &Report) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (name, journey) in &report.journeys {
        rows.push(stats_row(format!("journey {name}"), &journey.stats));
        let mut steps: Vec<_> = journey.steps.iter().collect();
        steps.sort_by_key(|(step, _)| {
            // The order of steps within their journeys; unknown steps follow alphabetically.
            (crate::journeys::Step::rank(step), *step)
        });
        // A step that only ever did not apply has no figures to show.
        for (step, stats) in steps.into_iter().filter(|(_, s)| s.count + s.failures > 0) {
            rows.push(stats_row(format!("  {step}"), stats));
        }
    }
    rows
}

pub(crate) fn target_rows(report: &Report) -> Vec<Vec<String>> {
    report
        .verdict
        .targets
        .iter()
        .map(|t| {
            let result = match (t.not_run, t.passed) {
                (true, _) => format!("not run: {}", t.reason.as_deref().unwrap_or("its journey was skipped")),
                (false, true) => "pass".to_owned(),
                (false, false) => "FAIL".to_owned(),
            };
            // A target not run has nothing observed: its result says why.
            let observed = if t.not_run { "-".to_owned() } else { t.observed.clone() };
            vec![t.expr.clone(), observed, result]
        })
        .collect()
}

/// The cohorts, when the journey that makes them ran.
pub(crate) fn cohort_lines(report: &Report) -> Vec<String> {
    let cohort = crate::journeys::cohort_journey().name;
    if !report.journeys.contains_key(cohort) {
        return Vec::new();
    }
    // A cohort whose target could not apply is that target's to explain.
    let not_run =
        |n: usize| report.verdict.targets.iter().any(|t| t.not_run && t.name == format!("cohort.{n}"));
    report
        .cohorts
        .values()
        .filter_map(|c| match c.completed_us {
            Some(us) => {
                Some(format!("first {} through {cohort} in {}", count(c.users as u64, "user"), ms(us)))
            }
            None if not_run(c.users) => None,
            None => Some(format!("fewer than {} completed {cohort}", count(c.users as u64, "user"))),
        })
        .collect()
}

pub(crate) fn observation_lines(report: &Report) -> Vec<String> {
    report.observations.iter().map(|(name, o)| words::observation(name, o)).collect()
}

/// The open model's schedule, when the run used it.
pub(crate) fn arrival_line(report: &Report) -> Option<String> {
    report.arrival.as_ref().map(|a| {
        format!(
            "open model: {:.1} journeys/s due, at most {} in flight: {} due, {} started, {} dropped (peak {} in flight); latency counts from when each journey was due",
            a.per_second, a.max_in_flight, a.scheduled, a.started, a.dropped, a.peak_in_flight
        )
    })
}

pub(crate) const ERROR_HEAD: [&str; 4] = ["step", "kind", "count", "first sample"];

/// Errors by step and kind, the most frequent first.
pub(crate) fn error_rows(report: &Report) -> Vec<Vec<String>> {
    report
        .errors
        .iter()
        .map(|e| {
            let step = if e.step.is_empty() { "-".to_owned() } else { e.step.clone() };
            vec![step, e.kind.clone(), e.count.to_string(), e.sample.clone()]
        })
        .collect()
}

/// What the errors add up to, before their table.
pub(crate) fn errors_line(report: &Report) -> String {
    let total: u64 = report.errors.iter().map(|e| e.count).sum();
    let mut steps: Vec<&str> =
        report.errors.iter().map(|e| e.step.as_str()).filter(|s| !s.is_empty()).collect();
    steps.sort_unstable();
    steps.dedup();
    match steps.len() {
        // A report older than the step column.
        0 => format!("{}, by kind:", count(total, "error")),
        n => format!("{} on {}, by step and kind:", count(total, "error"), count(n as u64, "step")),
    }
}

/// The findings section's line when there are none: what held, and what did not run.
pub(crate) fn no_findings_line(report: &Report) -> String {
    // Counted as the table "what was checked" shows them (the JWT probes one row, ...).
    let rows = coverage::rows(&report.coverage);
    let (not_run, ran): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| r[2].starts_with("not run") || r[2].starts_with("NOT RUN"));
    let never = not_run.iter().filter(|r| r[2].starts_with("NOT RUN")).count();
    let jwt = ran.iter().any(|r| r[0] == "JWT probes");
    let mut line = format!(
        "the {} that ran held{}",
        count(ran.len() as u64, "check"),
        if jwt { " (every JWT probe answered was refused)" } else { "" }
    );
    if !not_run.is_empty() {
        line.push_str(&format!("; {} did not run (see what was checked)", not_run.len()));
    }
    if never > 0 {
        line.push_str(&format!(", {never} of them asked for: the run is INCOMPLETE"));
    }
    line
}

pub(crate) fn isolation_line(report: &Report) -> String {
    let i = &report.isolation;
    let allowed: u64 = i.matrix.iter().map(|r| r.cell.allowed).sum();
    let clear: u64 = i.matrix.iter().map(|r| r.cell.allowed + r.cell.refused).sum();
    let other_turns = match i.other_turn_events {
        0 => String::new(),
        n => format!("; {n} agent events of other turns read past while waiting for a reply"),
    };
    let inconclusive = match i.probes.saturating_sub(clear) {
        0 => String::new(),
        n => format!("; {n} inconclusive (an error or no answer, proving neither)"),
    };
    format!(
        "isolation: {} scanned for other users' data, {} ({:.1} per million); {} of another user's objects: {allowed} of the {clear} answered clearly were allowed{inconclusive}; {} and {} planted in the ledger{other_turns}",
        count(i.responses_scanned, "response"),
        count(i.leaks, "leak"),
        i.leaks_per_million,
        count(i.probes, "cross-user probe"),
        count(i.ledger_ids as u64, "id"),
        count(i.canaries as u64, "canary")
    )
}

pub(crate) fn matrix_rows(report: &Report) -> Vec<Vec<String>> {
    report
        .isolation
        .matrix
        .iter()
        .map(|r| {
            vec![
                r.actor.clone(),
                r.resource.clone(),
                r.action.clone(),
                r.cell.expected.clone(),
                r.cell.refused.to_string(),
                r.cell.allowed.to_string(),
                r.cell.inconclusive.to_string(),
            ]
        })
        .collect()
}

/// What the matrix's columns mean, under it wherever it is shown.
pub(crate) const MATRIX_NOTE: &str = "Each row is a cross-user probe: the prober, as the actor named, asks for another user's resource. \
refused: the answer was the refusal expected (a refusal status; ACCESS_DENIED on the WebSocket). \
allowed: a 2xx with a real answer (JSON, or an empty body): the other user's data was served, \
which is a finding. inconclusive: neither, e.g. rate limited (429), a timeout or transport failure, a 5xx \
or another unexpected status, or a 2xx whose body was not JSON; it proves nothing either way, so it counts \
neither as a check that held nor as a leak.";

pub(crate) const MATRIX_HEAD: [&str; 7] =
    ["actor", "resource", "action", "expected", "refused", "allowed", "inconclusive"];

/// Whether the target kept answering, and how many journeys users began: an outage shows
/// here even when back-off kept the failures few.
pub(crate) fn service_line(report: &Report) -> String {
    let windows = &report.timeline.windows;
    let (width, unavailable) = report.timeline.unavailable();
    let begun: u64 = windows.iter().map(|w| w.begun).sum();
    let s = &report.service;
    // Neighbouring unavailable windows as one span.
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for w in windows.iter().filter(|w| w.unavailable_s > 0.0) {
        match spans.last_mut() {
            Some((_, end)) if (*end - w.start_s).abs() < 1e-6 => *end = w.start_s + w.width_s,
            _ => spans.push((w.start_s, w.start_s + w.width_s)),
        }
    }
    let at = if spans.is_empty() {
        String::new()
    } else {
        let shown: Vec<String> = spans.iter().take(5).map(|(a, b)| format!("{a:.0}-{b:.0} s")).collect();
        format!(" ({}{})", shown.join(", "), if spans.len() > 5 { ", ..." } else { "" })
    };
    format!(
        "service: unavailable {unavailable:.0} s of {width:.1} s{at} (seconds in which users waited, on the target or backing off after its failures, and no step completed); longest stall, work waiting and no step completing, {} ending at {:.1} s; {} begun",
        ms(s.stall_max_us),
        s.stall_at_s,
        count(begun, "journey")
    )
}

pub(crate) const WINDOW_HEAD: [&str; 6] = ["from", "to", "begun", "completed", "failed", "unavailable"];

/// Journeys begun (attempts), completed and failed over time, and the unavailable seconds: at
/// most `rows` rows, neighbouring windows added up. After failures users back off and begin
/// fewer journeys: an outage shows as attempts falling with the completions.
pub(crate) fn window_rows(report: &Report, rows: usize) -> Vec<Vec<String>> {
    let windows = &report.timeline.windows;
    let per_row = windows.len().div_ceil(rows.max(1)).max(1);
    windows
        .chunks(per_row)
        .map(|group| {
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let sum =
                |f: &dyn Fn(&crate::metrics::Window) -> u64| group.iter().map(f).sum::<u64>().to_string();
            let completed = sum(&|w| w.journeys.values().map(|j| j.count).sum());
            let failed = sum(&|w| w.journeys.values().map(|j| j.failures).sum());
            let unavailable: f64 = group.iter().map(|w| w.unavailable_s).sum();
            vec![
                format!("{:.1}s", first.start_s),
                format!("{:.1}s", last.start_s + last.width_s),
                sum(&|w| w.begun),
                completed,
                failed,
                if unavailable > 0.0 { format!("{unavailable:.1}s") } else { "-".to_owned() },
            ]
        })
        .collect()
}

/// What the JWT probes did, their set-up included.
pub(crate) fn probes_line(report: &Report) -> Option<String> {
    let p = &report.probes;
    if p.by_probe.is_empty() && p.setup_error.is_none() && p.setup_failures == 0 {
        return None;
    }
    let mut line = String::from("JWT probes: ");
    if p.setup_failures > 0 && p.started_s.is_some() {
        let last = p.setup_error.as_deref().map(|e| format!(" (last: {e})")).unwrap_or_default();
        line.push_str(&format!("set-up failed {}{last}, then ", count(p.setup_failures, "time")));
    } else if p.setup_failures > 0 {
        line.push_str(&format!("set-up failed {}; ", count(p.setup_failures, "time")));
    }
    match (p.started_s, &p.setup_error) {
        (None, Some(e)) => line.push_str(&format!("never ran: {e}")),
        (started, _) => {
            let accepted: u64 = p.by_probe.values().map(|t| t.accepted + t.server_errors).sum();
            let from = started.filter(|s| *s >= 1.0).map(|s| format!(" from {s:.1} s")).unwrap_or_default();
            let outcome = match accepted {
                0 if p.checks > 0 => "every one refused".to_owned(),
                0 => "none answered".to_owned(),
                n => format!("{n} accepted or answered 5xx"),
            };
            line.push_str(&format!(
                "{}{from}, {} of forged, tampered or expired tokens answered: {outcome}",
                count(p.rounds, "round"),
                count(p.checks, "probe")
            ));
            if p.cut_at_end {
                line.push_str("; the last round was cut at the run's end");
            }
        }
    }
    Some(line)
}

pub(crate) fn verdict_line(report: &Report) -> String {
    let v = &report.verdict;
    let missed = v.targets.iter().filter(|t| !t.passed).count();
    if v.outcome() == crate::verdict::Outcome::Partial {
        return format!(
            "verdict: PARTIAL (segments {} of the run missing; {missed} of {} missed in the rest)",
            report.run.missing_segments.join(", "),
            count(v.targets.len() as u64, "target")
        );
    }
    if v.outcome() == crate::verdict::Outcome::Incomplete {
        let never: Vec<&str> =
            report.coverage.iter().filter(|c| c.incomplete).map(|c| c.check.as_str()).collect();
        return format!(
            "verdict: INCOMPLETE ({} asked for never ran: {}{}; {missed} of {} missed)",
            count(never.len() as u64, "check"),
            never.iter().take(3).copied().collect::<Vec<_>>().join(", "),
            if never.len() > 3 { ", ..." } else { "" },
            count(v.targets.len() as u64, "target")
        );
    }
    match v.exit_code {
        0 => {
            let not_run = v.targets.iter().filter(|t| t.not_run).count();
            let mut line =
                format!("verdict: PASS ({} met", count((v.targets.len() - not_run) as u64, "target"));
            if not_run > 0 {
                line.push_str(&format!(", {not_run} not run"));
            }
            if !report.findings.is_empty() {
                line.push_str(&format!(", {}", count(report.findings.len() as u64, "known finding")));
            }
            line + ")"
        }
        3 => {
            let breaches = report.findings.iter().filter(|f| !f.known && f.severity.breaches()).count();
            format!("verdict: BREACH ({})", count(breaches as u64, "finding"))
        }
        _ => {
            let defects = report.findings.iter().filter(|f| !f.known && !f.severity.breaches()).count();
            let defects = match defects {
                0 => String::new(),
                1 => "1 reliability finding; ".to_owned(),
                n => format!("{n} reliability findings; "),
            };
            format!("verdict: FAIL ({defects}{missed} of {} missed)", count(v.targets.len() as u64, "target"))
        }
    }
}

/// The deployment: its kind and every URL it has (`embedded (auth URL, backend URL)`).
pub(crate) fn target_words(report: &Report) -> String {
    let t = &report.run.target;
    let urls: Vec<String> = [("auth", &t.auth_url), ("backend", &t.backend_url)]
        .into_iter()
        .filter(|(_, url)| !url.is_empty())
        .map(|(what, url)| format!("{what} {url}"))
        .collect();
    let faults = match t.faults.len() {
        0 => String::new(),
        _ => format!(", faults: {}", t.faults.join(", ")),
    };
    if urls.is_empty() {
        format!("{}{faults}", t.kind)
    } else {
        format!("{} ({}){faults}", t.kind, urls.join(", "))
    }
}

pub(crate) const LATENCY_HEAD: [&str; 7] = ["", "count", "failed", "p50", "p90", "p99", "max"];
pub(crate) const TARGET_HEAD: [&str; 3] = ["target", "observed", "result"];

pub(crate) fn finding_lines(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} ({}) at {} x{}, first at {:.1}s with {} users, {}: expected {}; observed {}",
                if f.known { "KNOWN FINDING" } else { "FINDING" },
                f.kind,
                f.severity,
                f.endpoint,
                f.count,
                f.at_s,
                f.active_users,
                f.users.join(", "),
                f.expected,
                f.observed
            )
        })
        .collect()
}

/// The summary printed on stdout when a run ends: findings first.
pub fn summary(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let run = &report.run;
    writeln!(
        out,
        "netra-load {}: profile {}{}, {}, {:.1}s ({}), ended by {}; target {}",
        report.tool.version,
        run.profile,
        run.part().map(|p| format!(" ({p})")).unwrap_or_default(),
        count(run.users as u64, "user"),
        run.duration_s,
        run.phases(report.timeline.ramp_s),
        run.ended_by.words(),
        target_words(report)
    )?;
    writeln!(out)?;
    for (line, f) in finding_lines(report).iter().zip(&report.findings) {
        writeln!(out, "{line}\n  reproduce: {}", f.reproducer)?;
    }
    if report.findings.is_empty() {
        writeln!(out, "findings: none; {}", no_findings_line(report))?;
    }
    writeln!(out)?;
    text_table(out, &LATENCY_HEAD, &latency_rows(report))?;
    writeln!(out)?;
    for line in cohort_lines(report).into_iter().chain(observation_lines(report)).chain(arrival_line(report))
    {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", service_line(report))?;
    let mut degradation = report.degradation.lines(report).into_iter();
    if let Some(rule) = degradation.next() {
        writeln!(out, "degradation: {rule}")?;
    }
    for line in degradation {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "{}", isolation_line(report))?;
    if let Some(line) = probes_line(report) {
        writeln!(out, "{line}")?;
    }
    if !report.skipped.is_empty() {
        writeln!(out, "\nnot run, or run differently, as the deployment allows:")?;
        for line in &report.skipped {
            writeln!(out, "  {line}")?;
        }
    }
    if !report.coverage.is_empty() {
        writeln!(out, "\nwhat was checked:")?;
        text_table(out, &coverage::HEAD, &coverage::rows(&report.coverage))?;
    }
    if !report.errors.is_empty() {
        writeln!(out, "\n{}", errors_line(report))?;
        text_table(out, &ERROR_HEAD, &error_rows(report))?;
    }
    writeln!(out)?;
    if report.verdict.targets.is_empty() {
        writeln!(out, "no targets judged")?;
    } else {
        text_table(out, &TARGET_HEAD, &target_rows(report))?;
    }
    writeln!(out, "{}", verdict_line(report))
}

/// `report.md`.
pub fn markdown(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let run = &report.run;
    writeln!(out, "# netra-load report: {}\n", run.profile)?;
    writeln!(out, "**{}**\n", verdict_line(report))?;
    writeln!(
        out,
        "- run {}{}: started {}, ended {} (by {}), {:.1} s ({})\n- {}; target: {}\n",
        if run.run_id.is_empty() { "id not recorded" } else { &run.run_id },
        run.part().map(|p| format!(", {p}")).unwrap_or_default(),
        run.started_at,
        run.ended_at,
        run.ended_by.words(),
        run.duration_s,
        run.phases(report.timeline.ramp_s),
        count(run.users as u64, "user"),
        target_words(report)
    )?;
    writeln!(out, "## Findings ({})\n", report.findings.len())?;
    if report.findings.is_empty() {
        writeln!(out, "None: {}.", no_findings_line(report))?;
    }
    for (line, f) in finding_lines(report).iter().zip(&report.findings) {
        writeln!(out, "- {line}\n\n  ```sh\n  {}\n  ```", f.reproducer)?;
    }
    writeln!(out)?;
    writeln!(out, "## Targets\n")?;
    if report.verdict.targets.is_empty() {
        writeln!(out, "No targets judged.")?;
    } else {
        md_table(out, &TARGET_HEAD, &target_rows(report))?;
    }
    writeln!(out, "\n## Latency\n")?;
    md_table(out, &LATENCY_HEAD, &latency_rows(report))?;
    if !report.coverage.is_empty() {
        writeln!(out, "\n## What was checked\n")?;
        md_table(out, &coverage::HEAD, &coverage::rows(&report.coverage))?;
    }
    if !report.skipped.is_empty() {
        writeln!(out, "\n## Not run, or run differently, as the deployment allows\n")?;
        for line in &report.skipped {
            writeln!(out, "- {line}")?;
        }
    }
    writeln!(out, "\n## Run\n")?;
    let lines = cohort_lines(report).into_iter().chain(observation_lines(report)).chain(arrival_line(report));
    for line in lines.chain([service_line(report)]).chain(probes_line(report)) {
        writeln!(out, "- {line}")?;
    }
    if !report.timeline.windows.is_empty() {
        writeln!(out, "\n## Over time\n")?;
        md_table(out, &WINDOW_HEAD, &window_rows(report, 30))?;
    }
    writeln!(out, "\n## Degradation\n")?;
    for line in report.degradation.lines(report) {
        writeln!(out, "- {line}")?;
    }
    writeln!(out, "\n## Isolation\n\n{}\n", isolation_line(report))?;
    if !report.isolation.matrix.is_empty() {
        md_table(out, &MATRIX_HEAD, &matrix_rows(report))?;
        writeln!(out, "\n{MATRIX_NOTE}")?;
    }
    writeln!(out, "\n## Errors\n")?;
    if report.errors.is_empty() {
        writeln!(out, "None.")?;
    } else {
        writeln!(out, "{}\n", errors_line(report))?;
        md_table(out, &ERROR_HEAD, &error_rows(report))?;
    }
    Ok(())
}
