//! Scoped access keys: every management route against every scope (allowed, or 403 before anything
//! happens), key creation cannot escalate, and unscoped keys keep full access.

use otadeck::domain::scope::{Permission, Scope, allows};
use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, TestServer, app_with_keys, info, package, upload};

/// One management request and what it needs.
struct Route {
    method: reqwest::Method,
    path: &'static str,
    body: Option<Value>,
    multipart: bool,
    need: Permission,
}

fn route(method: &str, path: &'static str, body: Option<Value>, need: Permission) -> Route {
    Route { method: method.parse().expect("method"), path, body, multipart: false, need }
}

fn routes() -> Vec<Route> {
    use Scope::{Admin, Pause, Read, Release, Rollback, Rollout};
    let staging = || Release(Some("Staging".into()));
    let policy = json!({"policy": {"steps": [50, 100], "intervalMs": 60000, "maxFailureRatio": 0.5, "minReports": 10}});
    let mut all = vec![
        route("GET", "/account", None, Read),
        route("GET", "/accessKeys", None, Read),
        route("POST", "/accessKeys", Some(json!({"friendlyName": "made-by-scope-test"})), Admin),
        route("GET", "/accessKeys/victim", None, Read),
        route("PATCH", "/accessKeys/victim", Some(json!({"friendlyName": "renamed"})), Admin),
        route("DELETE", "/accessKeys/victim", None, Admin),
        route("DELETE", "/sessions/nobody", None, Admin),
        route("GET", "/apps", None, Read),
        route("POST", "/apps", Some(json!({"name": "Scoped-Extra"})), Admin),
        route("GET", "/apps/Scoped", None, Read),
        route("PATCH", "/apps/Nope", Some(json!({"name": "Nope2"})), Admin),
        route("DELETE", "/apps/Nope", None, Admin),
        route("POST", "/apps/Nope/transfer/nobody@example.com", None, Admin),
        route("GET", "/apps/Scoped/binaries", None, Read),
        route(
            "POST",
            "/apps/Scoped/binaries",
            Some(json!({"platform": "android", "appVersion": "1.0.0", "fingerprint": {}})),
            Release(None),
        ),
        route("GET", "/apps/Scoped/collaborators", None, Read),
        route("POST", "/apps/Nope/collaborators/nobody@example.com", None, Admin),
        route("PATCH", "/apps/Nope/collaborators/nobody@example.com", Some(json!({"role": ["read"]})), Admin),
        route("DELETE", "/apps/Nope/collaborators/nobody@example.com", None, Admin),
        route("GET", "/audit", None, Read),
        route("GET", "/mendix/channels", None, Read),
        route(
            "PUT",
            "/mendix/channels",
            Some(json!({"channel": {"host": "scoped.example.com", "upstream": "http://127.0.0.1:9/",
                "androidApp": "Scoped", "iosApp": "Scoped-iOS", "deployment": "Production"}})),
            Admin,
        ),
        route("GET", "/mendix/channels/scoped.example.com/observations", None, Read),
        route("GET", "/mendix/channels/scoped.example.com/checks", None, Read),
        route(
            "POST",
            "/mendix/channels/scoped.example.com/import",
            Some(json!({"platform": "android"})),
            Release(Some("Production".into())),
        ),
        route("GET", "/apps/Scoped/deployments", None, Read),
        route("POST", "/apps/Nope/deployments", Some(json!({"name": "Beta"})), Admin),
        route("GET", "/apps/Scoped/deployments/Staging", None, Read),
        route("PATCH", "/apps/Scoped/deployments/Nope", Some(json!({"name": "x"})), Admin),
        route("DELETE", "/apps/Scoped/deployments/Nope", None, Admin),
        route(
            "PATCH",
            "/apps/Scoped/deployments/Staging/release",
            Some(json!({"packageInfo": {"label": "v9"}})),
            Rollout,
        ),
        route(
            "PATCH",
            "/apps/Scoped/deployments/Staging/release",
            Some(json!({"packageInfo": {"label": "v9", "isPaused": false}})),
            Pause,
        ),
        route(
            "POST",
            "/apps/Scoped/deployments/Staging/promote/Production",
            Some(json!({"packageInfo": {"label": "v9"}})),
            Release(Some("Production".into())),
        ),
        route("POST", "/apps/Scoped/deployments/Staging/rollback/v9", None, Rollback),
        route("GET", "/apps/Scoped/deployments/Staging/history", None, Read),
        route("DELETE", "/apps/Nope/deployments/Staging/history", None, Admin),
        route("GET", "/apps/Scoped/deployments/Staging/metrics", None, Read),
        route("GET", "/apps/Scoped/deployments/Staging/mendix-model", None, Read),
        route("GET", "/apps/Scoped/deployments/Staging/policy", None, Read),
        route("PUT", "/apps/Nope/deployments/Staging/policy", Some(policy), Rollout),
        route("DELETE", "/apps/Nope/deployments/Staging/policy", None, Rollout),
        route("GET", "/apps/Scoped/deployments/Staging/events", None, Read),
        route("GET", "/apps/Scoped/deployments/Staging/metrics/v1/series", None, Read),
    ];
    for (path, need) in [
        ("/apps/Scoped/deployments/Staging/release", staging()),
        ("/apps/Scoped/deployments/Production/release", Release(Some("Production".into()))),
    ] {
        all.push(Route { method: reqwest::Method::POST, path, body: None, multipart: true, need });
    }
    all
}

/// A key with `scopes` created by the admin.
async fn key_with(server: &TestServer, name: &str, scopes: &[&str]) -> String {
    let body = json!({"friendlyName": name, "scopes": scopes});
    let response = server
        .http()
        .post(format!("{}/accessKeys", server.url))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("create key");
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    let created: Value = response.json().await.expect("json");
    created["accessKey"]["name"].as_str().expect("secret").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_checks_the_scope_it_needs() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "Scoped").await;
    admin.create_app("Scoped-iOS").await.expect("ios app");
    let channel = otadeck::api::mendix::MendixChannel {
        host: "scoped.example.com".into(),
        upstream: "http://127.0.0.1:9/".into(),
        android_app: "Scoped".into(),
        ios_app: "Scoped-iOS".into(),
        deployment: "Production".into(),
        mode: otadeck::api::mendix::ChannelMode::Serve,
    };
    admin.set_mendix_channel(&channel).await.expect("channel");
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Scoped", "Staging", &upload(package(dir.path(), "one"), info("1.0.0"))).await.expect("v1");
    let sets: [&[&str]; 8] = [
        &["read"],
        &["release:Staging"],
        &["release"],
        &["rollout"],
        &["pause"],
        &["rollback"],
        &["admin"],
        &["read", "rollback", "pause"],
    ];
    let http = server.http();
    let mut checked = 0;
    for (n, set) in sets.iter().enumerate() {
        let secret = key_with(&server, &format!("scoped-{n}"), set).await;
        let scopes: Vec<Scope> = set.iter().map(|s| Scope::parse(s).expect("scope")).collect();
        for route in routes() {
            let url = format!("{}{}", server.url, route.path);
            let mut request = http.request(route.method.clone(), &url).bearer_auth(&secret);
            if route.multipart {
                let form = reqwest::multipart::Form::new().text("packageInfo", r#"{"appVersion":"1.0.0"}"#);
                request = request.multipart(form);
            } else if let Some(body) = &route.body {
                request = request.json(body);
            }
            let status = request.send().await.expect("send").status().as_u16();
            let allowed = allows(Some(&scopes), &route.need);
            assert_eq!(
                status == 403,
                !allowed,
                "{set:?} {} {}: got {status}, needs {:?}",
                route.method,
                route.path,
                route.need
            );
            checked += 1;
        }
    }
    eprintln!("scopes: {checked} route × scope checks");
    // An unscoped key (every existing key) keeps full access.
    assert!(admin.apps().await.is_ok());
    assert!(admin.history("Scoped", "Staging").await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_cannot_create_a_key_with_more_than_its_own_scopes() {
    let server = TestServer::start().await;
    let admin_only = key_with(&server, "admin-only", &["admin"]).await;
    let create = |secret: String, scopes: Option<Vec<&'static str>>| {
        let http = server.http();
        let url = format!("{}/accessKeys", server.url);
        async move {
            let mut body = json!({"friendlyName": format!("child-{}", rand::random::<u32>())});
            if let Some(scopes) = scopes {
                body["scopes"] = json!(scopes);
            }
            http.post(url).bearer_auth(secret).json(&body).send().await.expect("send").status().as_u16()
        }
    };
    assert_eq!(create(admin_only.clone(), Some(vec!["admin"])).await, 201);
    assert_eq!(create(admin_only.clone(), Some(vec!["admin", "read"])).await, 403, "read is more than admin-only");
    assert_eq!(create(admin_only.clone(), None).await, 201, "no scopes: the child inherits admin-only");
    let rollout = key_with(&server, "owner", &["read", "rollout"]).await;
    assert_eq!(create(rollout, Some(vec!["read"])).await, 403, "creating keys needs admin");
    assert_eq!(create(ADMIN_KEY.to_owned(), Some(vec!["root"])).await, 400, "unknown scopes are refused");
    let children = server.admin().access_keys().await.expect("keys");
    let inherited = children.iter().filter(|k| k.friendly_name.starts_with("child-")).filter_map(|k| k.scopes.clone());
    assert!(inherited.into_iter().all(|s| s == ["admin"]), "children never hold more than admin");
}
