//! The auth service: every row of the contract's table and its error paths, token claims,
//! rotation with reuse detection, logout revocation and the token rejections.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SECRET, claims_of, config, sign, start, unique_email, unsigned};

#[tokio::test]
async fn both_services_report_health() {
    let env = start(config()).await;
    let (s, _, b) = env.call(Method::GET, &env.auth("/health"), None, None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"status": "healthy", "service": "auth-service"})));
    let (s, _, b) = env.call(Method::GET, &env.api("/health"), None, None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"status": "healthy", "service": "netra-backend"})));
}

#[tokio::test]
async fn register_returns_a_pair_and_the_user_and_refuses_duplicates_and_bad_input() {
    let env = start(config()).await;
    let url = env.auth("/auth/register");
    let email = unique_email();
    let body = json!({"email": email, "password": "long-enough", "name": "Ada"});
    let (s, _, b) = env.call(Method::POST, &url, None, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert!(b["access_token"].is_string() && b["refresh_token"].is_string());
    assert_eq!(b["user"]["email"], email.as_str());
    assert_eq!(b["user"]["name"], "Ada");
    assert_eq!(b["user"]["plan_tier"], "free");

    let upper = json!({"email": email.to_uppercase(), "password": "long-enough"});
    let (s, _, b) = env.call(Method::POST, &url, None, Some(upper)).await;
    assert_eq!((s, b["detail"].as_str().unwrap()), (StatusCode::CONFLICT, "User already exists"));

    for bad in [
        json!({"email": "not-an-email", "password": "long-enough"}),
        json!({"email": unique_email(), "password": "short"}),
        json!({"email": unique_email()}),
        json!({"email": unique_email(), "password": "long-enough", "plan_tier": "platinum"}),
    ] {
        let (s, _, b) = env.call(Method::POST, &url, None, Some(bad.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(b["detail"].is_string(), "{b}");
    }
    let resp =
        env.http.post(&url).header("content-type", "application/json").body("{oops").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn login_checks_the_password() {
    let env = start(config()).await;
    let who = env.register_as("pro").await;
    let url = env.auth("/auth/login");
    let (s, _, b) =
        env.call(Method::POST, &url, None, Some(json!({"email": who.email, "password": who.password}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["user"]["id"], who.id.as_str());
    assert_eq!(b["user"]["plan_tier"], "pro");
    assert!(b["access_token"].is_string() && b["refresh_token"].is_string());

    let wrong = json!({"email": who.email, "password": "wrong-password"});
    let (s, _, b) = env.call(Method::POST, &url, None, Some(wrong)).await;
    assert_eq!((s, b["detail"].as_str().unwrap()), (StatusCode::UNAUTHORIZED, "Invalid credentials"));
    let nobody = json!({"email": unique_email(), "password": "whatever-pass"});
    assert_eq!(env.call(Method::POST, &url, None, Some(nobody)).await.0, StatusCode::UNAUTHORIZED);
    let missing = json!({"email": who.email});
    assert_eq!(env.call(Method::POST, &url, None, Some(missing)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn tokens_carry_the_contract_claims_and_lifetimes() {
    let env = start(config()).await;
    let who = env.register_as("enterprise").await;
    let access = claims_of(&who.access);
    for key in ["sub", "email", "iat", "exp", "jti", "token_type", "iss", "permissions"] {
        assert!(access.get(key).is_some(), "access token lacks {key}: {access}");
    }
    assert_eq!(access["sub"], who.id.as_str());
    assert_eq!(access["token_type"], "access");
    assert_eq!(access["iss"], "netra-auth-service");
    assert_eq!(access["exp"].as_u64().unwrap() - access["iat"].as_u64().unwrap(), 900);
    let refresh = claims_of(&who.refresh);
    assert_eq!(refresh["token_type"], "refresh");
    assert!(refresh.get("permissions").is_none());
    assert_eq!(refresh["exp"].as_u64().unwrap() - refresh["iat"].as_u64().unwrap(), 7 * 24 * 3600);
    assert_ne!(access["jti"], refresh["jti"]);
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            who.access.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let env = start(config()).await;
    let who = env.register().await;
    let url = env.auth("/auth/refresh");
    let (s, _, first) = env.call(Method::POST, &url, None, Some(json!({"refresh_token": who.refresh}))).await;
    assert_eq!(s, StatusCode::OK);
    let (new_access, new_refresh) =
        (first["access_token"].as_str().unwrap(), first["refresh_token"].as_str().unwrap());
    assert_ne!(new_refresh, who.refresh);
    assert_eq!(env.get("/api/users/profile", new_access).await.0, StatusCode::OK);

    // The retired token again: refused, and the family (old and new tokens alike) is revoked.
    let (s, _, b) = env.call(Method::POST, &url, None, Some(json!({"refresh_token": who.refresh}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, _, _) = env.call(Method::POST, &url, None, Some(json!({"refresh_token": new_refresh}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(env.get("/api/users/profile", new_access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(env.get("/api/users/profile", &who.access).await.0, StatusCode::UNAUTHORIZED);

    // Another login is another family, untouched.
    let login = json!({"email": who.email, "password": who.password});
    let (_, _, b) = env.call(Method::POST, &env.auth("/auth/login"), None, Some(login)).await;
    assert_eq!(env.get("/api/users/profile", b["access_token"].as_str().unwrap()).await.0, StatusCode::OK);

    for bad in [json!({"refresh_token": who.access}), json!({"refresh_token": "garbage"}), json!({})] {
        let (s, _, _) = env.call(Method::POST, &url, None, Some(bad.clone())).await;
        assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {s}");
    }
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_win() {
    let env = start(config()).await;
    let who = env.register().await;
    let url = env.auth("/auth/refresh");
    let body = json!({"refresh_token": who.refresh});
    let calls = (0..8).map(|_| env.call(Method::POST, &url, None, Some(body.clone())));
    let statuses: Vec<_> = futures_util::future::join_all(calls).await.into_iter().map(|r| r.0).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_its_refresh_family() {
    let env = start(config()).await;
    let who = env.register().await;
    let (s, _, b) = env.call(Method::POST, &env.auth("/auth/logout"), Some(&who.access), None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"success": true})));
    assert_eq!(env.get("/api/users/profile", &who.access).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, _) = env.call(Method::GET, &env.auth("/auth/me"), Some(&who.access), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = env
        .call(Method::POST, &env.auth("/auth/refresh"), None, Some(json!({"refresh_token": who.refresh})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = env.call(Method::POST, &env.auth("/auth/logout"), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn validate_verify_and_me_describe_the_token_holder() {
    let env = start(config()).await;
    let who = env.register().await;
    let (s, _, b) =
        env.call(Method::POST, &env.auth("/auth/validate"), None, Some(json!({"token": who.access}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (b["valid"].clone(), b["user_id"].clone(), b["email"].clone()),
        (json!(true), json!(who.id), json!(who.email))
    );
    assert!(b["permissions"].is_array() && b["expires_at"].is_u64());
    for bad in [who.refresh.as_str(), "not.a.token"] {
        let (s, _, b) =
            env.call(Method::POST, &env.auth("/auth/validate"), None, Some(json!({"token": bad}))).await;
        assert_eq!((s, b["detail"].as_str().unwrap()), (StatusCode::UNAUTHORIZED, "Invalid token"));
    }

    let (s, _, b) = env.call(Method::GET, &env.auth("/auth/verify"), Some(&who.access), None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"valid": true, "user_id": who.id, "email": who.email})));
    let (s, _, b) = env.call(Method::GET, &env.auth("/auth/me"), Some(&who.access), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((b["id"].clone(), b["plan_tier"].clone()), (json!(who.id), json!("free")));
    for path in ["/auth/verify", "/auth/me"] {
        let (s, h, _) = env.call(Method::GET, &env.auth(path), None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(h["www-authenticate"], "Bearer");
    }
}

/// `alg: none`, a bad signature, an expired token, the wrong `token_type` and a foreign issuer
/// are refused by the auth service and the backend alike.
#[tokio::test]
async fn forged_expired_and_mistyped_tokens_are_refused_everywhere() {
    let env = start(config()).await;
    let who = env.register().await;
    let good = claims_of(&who.access);
    let now = good["iat"].as_u64().unwrap();
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let forged = [
        ("alg none", unsigned(&good)),
        ("bad signature", sign(&good, "some-other-secret")),
        ("expired", sign(&with("exp", json!(now - 10)), SECRET)),
        ("wrong token_type", sign(&with("token_type", json!("refresh")), SECRET)),
        ("foreign issuer", sign(&with("iss", json!("someone-else")), SECRET)),
        ("the refresh token", who.refresh.clone()),
    ];
    // The same claims, correctly signed, are accepted: the refusals are about what was changed.
    assert_eq!(env.get("/api/users/profile", &sign(&good, SECRET)).await.0, StatusCode::OK);
    for (what, token) in forged {
        assert_eq!(
            env.get("/api/users/profile", &token).await.0,
            StatusCode::UNAUTHORIZED,
            "backend took {what}"
        );
        let (s, _, _) = env.call(Method::GET, &env.auth("/auth/me"), Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "auth service took {what}");
    }
}
