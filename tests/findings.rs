//! The mixed profile (chatters, refreshers, abusers, and the JWT probes beside them) against each
//! security fault of the embedded target: the run exits 3 with exactly the finding kinds of that
//! fault, and no other kind.

mod support;

use std::collections::BTreeSet;

use support::{report, run, text};

#[test]
fn each_security_fault_yields_exactly_its_own_finding_kinds() {
    let cases: [(&str, &[&str]); 8] = [
        ("no-revoke", &["logout_not_revoked"]),
        ("refresh-reuse", &["refresh_reuse_accepted"]),
        ("shared-rate-limit", &["noisy_neighbour"]),
        ("no-rate-limit", &["no_rate_limit"]),
        ("weak-jwt", &["jwt_accepted"]),
        ("no-jti", &["token_collision"]),
        ("refresh-identity", &["identity_drift"]),
        ("lax-validate", &["jwt_accepted", "jwt_server_error"]),
    ];
    for (fault, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            dir.path(),
            &["--profile", "mixed", "--users", "18", "--run-time", "3s", "--target-fault", fault],
        );
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{fault}: {stdout}");
        let r = report(dir.path());
        support::assert_schema(&r);
        let kinds: BTreeSet<&str> =
            r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, expected.iter().copied().collect(), "{fault}");
        for f in r["findings"].as_array().unwrap() {
            for field in ["expected", "observed", "reproducer", "endpoint"] {
                assert!(!f[field].as_str().unwrap().is_empty(), "{fault}: empty {field} in {f}");
            }
            assert!(!f["reproducer"].as_str().unwrap().contains("eyJ"), "{fault}: a token in {f}");
            if fault == "lax-validate" {
                assert!(f["endpoint"].as_str().unwrap().starts_with("POST /auth/validate"), "{f}");
            }
        }
        assert!(stdout.lines().nth(2).is_some_and(|l| l.starts_with("FINDING")), "findings first: {stdout}");
    }
}

#[test]
fn known_findings_are_reported_but_only_unknown_ones_make_a_breach() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("known.toml");
    std::fs::write(
        &profile,
        "[run]\nusers = 4\niterations = 2\n[expect]\nknown_findings = [\"logout_not_revoked\"]\n\
         [[persona]]\nname = \"refresher\"\njourney = \"token-refresh\"\n",
    )
    .unwrap();
    let args = ["--profile", profile.to_str().unwrap(), "--target-fault", "no-revoke"];
    let out = run(dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "known only: {}", text(&out.stdout));
    let r = report(dir.path());
    support::assert_schema(&r);
    let findings = r["findings"].as_array().unwrap();
    assert!(!findings.is_empty() && findings.iter().all(|f| f["known"] == true), "{findings:?}");
    // Another fault's finding is not known: a breach, the known one still marked.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[&args[..], &["--target-fault", "refresh-reuse"]].concat());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let r = report(dir.path());
    for f in r["findings"].as_array().unwrap() {
        assert_eq!(f["known"] == true, f["kind"] == "logout_not_revoked", "{f}");
    }
    assert!(text(&out.stdout).contains("verdict: BREACH (1 finding)"), "{}", text(&out.stdout));
}

#[test]
fn a_misspelt_known_finding_is_refused_with_the_closest_kind() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("typo.toml");
    std::fs::write(&profile, "[expect]\nknown_findings = [\"logout_not_revokd\"]\n[[persona]]\nname = \"a\"\njourney = \"token-refresh\"\n")
        .unwrap();
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `logout_not_revoked`?"), "{stderr}");
}

#[test]
fn a_race_under_load_is_a_concurrency_error_a_fail_not_a_breach() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--profile", "smoke", "--users", "10", "--run-time", "3s", "--target-fault", "race-500=0.5"];
    let out = run(dir.path(), &args);
    let stdout = text(&out.stdout);
    // A reliability defect fails the run; it is no breach. (INCOMPLETE when the isolation
    // probers' own set-up met the race throughout its retries: rightly, they never ran.)
    assert!(matches!(out.status.code(), Some(1 | 4)), "{stdout}");
    let r = report(dir.path());
    support::assert_schema(&r);
    let findings = r["findings"].as_array().unwrap();
    let endpoints: BTreeSet<&str> = findings.iter().map(|f| f["endpoint"].as_str().unwrap()).collect();
    assert!(
        findings.iter().all(|f| f["kind"] == "concurrency_error" && f["severity"] == "low"),
        "{findings:?}"
    );
    // Registrations and logins race: each is found when it failed often enough to tell.
    let auth = ["POST /auth/register", "POST /auth/login"];
    assert!(!endpoints.is_empty() && endpoints.iter().all(|e| auth.contains(e)), "{endpoints:?}");
    let f = &findings[0];
    let observed = f["observed"].as_str().unwrap();
    assert!(observed.contains("unique constraint") && observed.contains("one user at a time"), "{observed}");
    let reproducer = f["reproducer"].as_str().unwrap();
    assert!(
        reproducer.starts_with("seq 1 ") && reproducer.contains("xargs -P") && reproducer.contains("/auth/")
    );
    assert!(text(&out.stderr).contains("replaying, one user at a time"), "{}", text(&out.stderr));
    // The clean target: nothing to replay, nothing found.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &args[..6]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).contains("replaying"));
}
