//! `netra-load merge`: reports of one profile (segments of one distributed run, or runs on
//! several machines) become one. Histograms are added, never percentiles averaged; counters are
//! summed; time windows are added on the wall clock (each part's windows moved by how much later
//! than the first it started, to the window; reports older than their start's milliseconds count
//! from their own starts); findings are united; the targets are judged again on the whole.

use super::{Cohort, Report};
use crate::metrics::{EndedBy, Window};
use crate::verdict::Threshold;

/// Merges `reports`; a set of segments with some missing is refused unless `allow_partial`,
/// and then judged PARTIAL.
pub fn merge(reports: Vec<Report>, allow_partial: bool) -> Result<Report, String> {
    let missing = complete_set(&reports, allow_partial)?;
    let mut reports = reports;
    let spread = on_the_wall_clock(&mut reports)?;
    let mut reports = reports.into_iter();
    let mut out = reports.next().ok_or("merge needs at least one report")?;
    let label = |r: &Report| r.run.segment.clone().unwrap_or_else(|| format!("run of {}", r.run.started_at));
    let mut parts = vec![label(&out)];
    for r in reports {
        if r.run.profile != out.run.profile {
            return Err(format!(
                "cannot merge runs of different profiles: `{}` and `{}`",
                out.run.profile, r.run.profile
            ));
        }
        if r.run.targets != out.run.targets {
            return Err(format!(
                "cannot merge runs with different targets ({} and {})",
                r.run.started_at, out.run.started_at
            ));
        }
        parts.push(label(&r));
        add(&mut out, &r)?;
    }
    out.run.merged_from = parts;
    out.run.missing_segments = missing;
    out.run.start_spread_ms = spread;
    out.run.segment = None;
    // The whole is a report of its own.
    out.run.run_id = uuid::Uuid::new_v4().to_string();
    rejudge(&mut out)?;
    Ok(out)
}

/// Moves every report's windows and completions by how much later than the earliest it started,
/// so that the same second of the wall clock is added to the same second; returns the spread of
/// the starts (`None` when a report does not know its start to the millisecond). Parts that did
/// not overlap at all (runs of other times, segments run one after another) share no second:
/// each is counted from its own start, as before there was a wall clock.
fn on_the_wall_clock(reports: &mut [Report]) -> Result<Option<u64>, String> {
    let Some(starts) = reports.iter().map(|r| r.run.started_at_ms).collect::<Option<Vec<u64>>>() else {
        return Ok(None);
    };
    let (Some(&first), Some(&last)) = (starts.iter().min(), starts.iter().max()) else { return Ok(None) };
    let spread = last - first;
    // As long as the longest timeline (its windows, not a duration a file could claim): the
    // windows added in front stay as many as there are already.
    let longest_s =
        reports.iter().map(|r| r.timeline.windows.iter().map(|w| w.width_s).sum::<f64>()).fold(0.0, f64::max);
    if spread as f64 / 1000.0 > longest_s {
        return Ok(Some(spread));
    }
    let most = reports.iter().map(|r| r.timeline.windows.len()).max().unwrap_or(0);
    for (r, start) in reports.iter_mut().zip(&starts) {
        let late_ms = start - first;
        r.completions_us.iter_mut().for_each(|c| *c += late_ms * 1000);
        let Some(width) = r.timeline.windows.first().map(|w| w.width_s).filter(|w| *w > 0.0) else {
            continue;
        };
        let k = (late_ms as f64 / 1000.0 / width).round() as usize;
        if k == 0 {
            continue;
        }
        if k > most {
            return Err(format!(
                "a report's timeline ({width} s windows) does not fit its start {late_ms} ms late"
            ));
        }
        for w in &mut r.timeline.windows {
            w.start_s += k as f64 * width;
        }
        let empty = (0..k).map(|i| Window { start_s: i as f64 * width, width_s: width, ..Window::default() });
        r.timeline.windows.splice(0..0, empty);
    }
    Ok(Some(spread))
}

/// What a report is called in a refusal: its segment and start.
fn named(r: &Report) -> String {
    match &r.run.segment {
        Some(s) => format!("segment {s} (started {})", r.run.started_at),
        None => format!("the whole run started {}", r.run.started_at),
    }
}

/// Refuses a set that does not add up to runs: one report given twice (by its run id, or its
/// start and segment in reports older than the id), segments beside whole runs; returns the
/// segments missing from the split, refused unless `allow_partial`.
fn complete_set(reports: &[Report], allow_partial: bool) -> Result<Vec<String>, String> {
    for (i, a) in reports.iter().enumerate() {
        for b in &reports[..i] {
            let same = if a.run.run_id.is_empty() || b.run.run_id.is_empty() {
                a.run.started_at == b.run.started_at && a.run.segment == b.run.segment
            } else {
                a.run.run_id == b.run.run_id
            };
            if same {
                return Err(format!("{} is given twice: every count would be doubled", named(a)));
            }
        }
    }
    let (segments, whole): (Vec<&Report>, Vec<&Report>) =
        reports.iter().partition(|r| r.run.segment.is_some());
    if let (Some(s), Some(w)) = (segments.first(), whole.first()) {
        return Err(format!(
            "cannot merge {} with {}: merge the segments of one run, or whole runs of one profile",
            named(s),
            named(w)
        ));
    }
    // Segments given one common start are one run's; another start is another run's (one
    // without a common start cannot tell).
    let timed: Vec<&&Report> = segments.iter().filter(|r| r.run.start_at.is_some()).collect();
    if let Some(other) = timed.iter().find(|r| r.run.start_at != timed[0].run.start_at) {
        return Err(format!(
            "{} and {} are of different runs: their common starts (--start-at) are {} and {}",
            named(timed[0]),
            named(other),
            timed[0].run.start_at.as_deref().unwrap_or_default(),
            other.run.start_at.as_deref().unwrap_or_default()
        ));
    }
    let Some(first) = segments.first().and_then(|r| r.run.segment.as_deref()) else { return Ok(Vec::new()) };
    let split = |s: &str| s.split_once('/').map(|(_, n)| n.to_owned());
    for (i, a) in segments.iter().enumerate() {
        let s = a.run.segment.as_deref().unwrap_or_default();
        if split(s) != split(first) {
            return Err(format!("segments {first} and {s} come from different splits"));
        }
        if segments[..i].iter().any(|b| b.run.segment == a.run.segment) {
            return Err(format!("segment {s} is given twice (two runs' reports?)"));
        }
    }
    let total: usize = first
        .split_once('/')
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| format!("segment `{first}` is not I/N"))?;
    let missing: Vec<String> = (0..total)
        .map(|i| format!("{i}/{total}"))
        .filter(|s| !segments.iter().any(|r| r.run.segment.as_deref() == Some(s.as_str())))
        .collect();
    if !missing.is_empty() && !allow_partial {
        return Err(format!(
            "segments {} of {total} are missing: merge every segment of the run, or give --allow-partial for a PARTIAL verdict on the rest",
            missing.join(", ")
        ));
    }
    Ok(missing)
}

/// Adds `r` into `out`.
fn add(out: &mut Report, r: &Report) -> Result<(), String> {
    let run = &mut out.run;
    run.users += r.run.users;
    run.increase_rate += r.run.increase_rate;
    run.duration_s = run.duration_s.max(r.run.duration_s);
    run.started_at = run.started_at.clone().min(r.run.started_at.clone());
    run.started_at_ms = run.started_at_ms.zip(r.run.started_at_ms).map(|(a, b)| a.min(b));
    run.ended_at = run.ended_at.clone().max(r.run.ended_at.clone());
    if r.run.ended_by == EndedBy::Interrupted {
        run.ended_by = r.run.ended_by;
    }
    for (name, j) in &r.journeys {
        let mine = out.journeys.entry(name.clone()).or_default();
        mine.stats.merge(&j.stats);
        for (step, s) in &j.steps {
            mine.steps.entry(step.clone()).or_default().merge(s);
        }
    }
    for (name, p) in &r.personas {
        match out.personas.get_mut(name) {
            Some(mine) => mine.stats.merge(&p.stats),
            None => {
                out.personas.insert(name.clone(), p.clone());
            }
        }
    }
    for e in &r.errors {
        match out.errors.iter_mut().find(|m| m.kind == e.kind && m.step == e.step) {
            Some(m) => m.count += e.count,
            None => out.errors.push(e.clone()),
        }
    }
    super::sort_errors(&mut out.errors);
    for (name, o) in &r.observations {
        match out.observations.get_mut(name) {
            Some(m) => {
                let total = m.count + o.count;
                if total > 0 {
                    m.mean = (m.mean * m.count as f64 + o.mean * o.count as f64) / total as f64;
                }
                (m.count, m.min, m.max) = (total, m.min.min(o.min), m.max.max(o.max));
            }
            None => {
                out.observations.insert(name.clone(), o.clone());
            }
        }
    }
    for f in &r.findings {
        match out.findings.iter_mut().find(|m| m.kind == f.kind && m.endpoint == f.endpoint) {
            Some(m) => {
                m.count += f.count;
                if f.at_s < m.at_s {
                    (m.at_s, m.active_users) = (f.at_s, f.active_users);
                }
                for u in &f.users {
                    if m.users.len() < 5 && !m.users.contains(u) {
                        m.users.push(u.clone());
                    }
                }
            }
            None => out.findings.push(f.clone()),
        }
    }
    for s in &r.skipped {
        if !out.skipped.contains(s) {
            out.skipped.push(s.clone());
        }
    }
    match (&mut out.arrival, &r.arrival) {
        (Some(a), Some(b)) => {
            a.per_second += b.per_second;
            a.max_in_flight += b.max_in_flight;
            (a.scheduled, a.started, a.dropped) =
                (a.scheduled + b.scheduled, a.started + b.started, a.dropped + b.dropped);
            a.peak_in_flight += b.peak_in_flight;
        }
        (None, Some(b)) => out.arrival = Some(b.clone()),
        _ => {}
    }
    // Not run only if no run covered it.
    out.not_run.retain(|n| r.not_run.contains(n));
    let p = &mut out.probes;
    (p.rounds, p.checks) = (p.rounds + r.probes.rounds, p.checks + r.probes.checks);
    p.setup_error = p.setup_error.take().or_else(|| r.probes.setup_error.clone());
    p.setup_failures += r.probes.setup_failures;
    p.cut_at_end |= r.probes.cut_at_end;
    p.started_s = match (p.started_s, r.probes.started_s) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for (name, t) in &r.probes.by_probe {
        let mine = p.by_probe.entry(name.clone()).or_default();
        mine.sent += t.sent;
        mine.accepted += t.accepted;
        mine.server_errors += t.server_errors;
        mine.inconclusive += t.inconclusive;
    }
    if out.service.stall_max_us < r.service.stall_max_us {
        out.service = r.service.clone();
    }
    // The targets' rows are judged again on the merged figures.
    out.coverage.retain(|c| c.kind != super::coverage::CheckKind::Target);
    let theirs: Vec<_> =
        r.coverage.iter().filter(|c| c.kind != super::coverage::CheckKind::Target).cloned().collect();
    super::coverage::merge(&mut out.coverage, &theirs);
    let i = &mut out.isolation;
    i.probes += r.isolation.probes;
    i.responses_scanned += r.isolation.responses_scanned;
    i.other_turn_events += r.isolation.other_turn_events;
    i.leaks += r.isolation.leaks;
    i.ledger_ids += r.isolation.ledger_ids;
    i.canaries += r.isolation.canaries;
    i.leaks_per_million =
        if i.responses_scanned == 0 { 0.0 } else { i.leaks as f64 * 1e6 / i.responses_scanned as f64 };
    i.setup_error = i.setup_error.take().or_else(|| r.isolation.setup_error.clone());
    i.setup_failures += r.isolation.setup_failures;
    for row in &r.isolation.matrix {
        let key = |m: &crate::isolation::MatrixRow| (m.actor.clone(), m.resource.clone(), m.action.clone());
        match i.matrix.iter_mut().find(|m| key(m) == key(row)) {
            Some(m) => {
                m.cell.refused += row.cell.refused;
                m.cell.allowed += row.cell.allowed;
                m.cell.inconclusive += row.cell.inconclusive;
            }
            None => i.matrix.push(row.clone()),
        }
    }
    out.completions_us.extend(&r.completions_us);
    out.completions_us.sort_unstable();
    out.timeline.ramp_s = out.timeline.ramp_s.max(r.timeline.ramp_s);
    out.timeline.windows = add_windows(&out.timeline.windows, &r.timeline.windows)?;
    for (step, endpoints) in &r.timeline.endpoints {
        out.timeline.endpoints.entry(step.clone()).or_insert_with(|| endpoints.clone());
    }
    Ok(())
}

/// Window by window; the finer timeline is coarsened until both have the same width.
fn add_windows(a: &[Window], b: &[Window]) -> Result<Vec<Window>, String> {
    let width = |w: &[Window]| w.first().map_or(0.0, |w| w.width_s);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    while !a.is_empty() && !b.is_empty() && width(&a) * 1.5 < width(&b) {
        a = coarsen(&a)?;
    }
    while !a.is_empty() && !b.is_empty() && width(&b) * 1.5 < width(&a) {
        b = coarsen(&b)?;
    }
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    for (mine, theirs) in a.iter_mut().zip(&b) {
        let users = mine.active_users + theirs.active_users;
        // The span is unavailable for the whole only where no segment got an answer in it.
        let unavailable_s = mine.unavailable_s.min(theirs.unavailable_s);
        mine.absorb(theirs).map_err(|e| format!("a window's histogram: {e}"))?;
        (mine.active_users, mine.unavailable_s) = (users, unavailable_s);
        mine.width_s = mine.width_s.max(theirs.width_s);
    }
    Ok(a)
}

fn coarsen(windows: &[Window]) -> Result<Vec<Window>, String> {
    windows
        .chunks(2)
        .map(|pair| {
            let mut w = pair[0].clone();
            if let Some(next) = pair.get(1) {
                w.absorb(next)?;
                w.width_s += next.width_s;
            }
            Ok(w)
        })
        .collect()
}

/// Cohorts and the verdict, on the merged figures.
fn rejudge(out: &mut Report) -> Result<(), String> {
    for (key, cohort) in out.cohorts.iter_mut() {
        let n: usize = key.parse().map_err(|_| format!("cohort `{key}` is not a number"))?;
        let completed_us = n.checked_sub(1).and_then(|i| out.completions_us.get(i)).copied();
        *cohort = Cohort { users: n, completed_us };
    }
    let targets =
        out.run.targets.iter().map(|t| Threshold::parse_expr(t)).collect::<Result<Vec<_>, String>>()?;
    out.judge(&targets);
    Ok(())
}
