//! `[metrics]`: a real `postern serve` scraped over HTTP. Every metric docs/metrics.md names
//! and every metric the Grafana dashboard (deploy/grafana/postern.json) queries is in a real
//! scrape, the counters follow real requests, and the bearer token is enforced.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use postern_testkit::RedisServer;

use crate::support::{PASSWORD, Running, TempDir, config, free_port, get, post_json};

const TOKEN: &str = "a-metrics-token-of-32-characters";

fn workspace_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A server with metrics on `metrics_port` (bearer `TOKEN`) and `extra` config.
fn start(dir: &TempDir, metrics_port: u16, extra: &str) -> Running {
    let token = dir.write("metrics-token", &format!("{TOKEN}\n"));
    let port = free_port();
    let text = config(
        port,
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\ntoken_file = \"{}\"\n{extra}",
            token.display()
        ),
    );
    // `config` puts [[users]] last; `extra` tables go before [server], so order is kept.
    let path = dir.write("postern.toml", &text);
    Running::start(dir, &path, port)
}

fn scrape(metrics_port: u16) -> String {
    let answer = get(
        metrics_port,
        "/metrics",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("application/openmetrics-text"), "{answer}");
    answer
}

/// The value of one series line, e.g. `postern_checks_total{proxy="traefik",outcome="login"}`.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The names of every series in a scrape (`postern_checks_total`, `..._bucket`, ...).
fn series_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("HTTP") && line.contains(' '))
        .filter_map(|line| line.split(['{', ' ']).next())
        .filter(|name| name.starts_with("postern_") || name.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

fn check(port: u16, cookie: Option<&str>) -> String {
    check_with(
        port,
        cookie.map(|cookie| ("Cookie", format!("postern_session={cookie}"))),
    )
}

/// A traefik check of an https app with `credential` (a header) if any.
fn check_with(port: u16, credential: Option<(&str, String)>) -> String {
    let mut headers = vec![
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("X-Forwarded-Uri", "/"),
        ("X-Forwarded-Method", "GET"),
        ("Accept", "application/json"),
    ];
    if let Some((name, value)) = &credential {
        headers.push((name, value));
    }
    get(port, "/api/auth/traefik", &headers).unwrap()
}

fn sign_in(port: u16) -> String {
    let answer = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    answer
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .starts_with("set-cookie: postern_session=")
                .then(|| {
                    line["set-cookie: postern_session=".len()..]
                        .split(';')
                        .next()
                })
                .flatten()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no session cookie in:\n{answer}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn scrapes_need_the_bearer_token_and_the_counters_follow_requests() {
    let dir = TempDir::new("metrics");
    let metrics_port = free_port();
    let running = start(&dir, metrics_port, "");
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token-wrong-token-wrong")],
    ] {
        let answer = get(metrics_port, "/metrics", &headers).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(!answer.contains("postern_checks_total"), "{answer}");
    }
    let elsewhere = get(
        metrics_port,
        "/api/auth/traefik",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .unwrap();
    assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");

    assert!(check(running.port, None).starts_with("HTTP/1.1 401"));
    let wrong = post_json(
        running.port,
        "/api/login",
        "{\"username\":\"alice\",\"password\":\"not the password\"}",
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let cookie = sign_in(running.port);
    assert!(check(running.port, Some(&cookie)).starts_with("HTTP/1.1 200"));
    std::process::Command::new("kill")
        .args(["-HUP", &running.child.id().to_string()])
        .status()
        .unwrap();
    wait_for("the reload to be counted", || {
        value(
            &scrape(metrics_port),
            "postern_config_reloads_total{result=\"ok\"}",
        ) == Some(1.0)
    });

    let scraped = scrape(metrics_port);
    for (series, expected) in [
        (
            "postern_checks_total{proxy=\"traefik\",outcome=\"login\"}",
            1.0,
        ),
        (
            "postern_checks_total{proxy=\"traefik\",outcome=\"allowed\"}",
            1.0,
        ),
        (
            "postern_checks_total{proxy=\"nginx\",outcome=\"allowed\"}",
            0.0,
        ),
        (
            "postern_check_duration_seconds_count{proxy=\"traefik\"}",
            2.0,
        ),
        (
            "postern_logins_total{method=\"password\",outcome=\"failed\"}",
            1.0,
        ),
        (
            "postern_logins_total{method=\"password\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "postern_store_operations_total{op=\"apply\",result=\"ok\"}",
            1.0,
        ),
        ("postern_sessions", 1.0),
        ("postern_build_info{version=\"0.1.0\"}", 1.0),
    ] {
        assert_eq!(
            value(&scraped, series),
            Some(expected),
            "{series} in:\n{scraped}"
        );
    }
    assert!(value(&scraped, "process_resident_memory_bytes").is_some_and(|rss| rss > 1e6));
    assert!(value(&scraped, "process_open_fds").is_some_and(|fds| fds >= 3.0));
}

/// Basic credentials are verified once, then answered from the cache (docs/metrics.md: the
/// `password` method counts "Basic credentials that were not cached"): three checks with one
/// header are one password sign-in.
#[test]
fn basic_credentials_are_verified_once_then_answered_from_the_cache() {
    use base64::Engine;
    let dir = TempDir::new("metrics-basic");
    let metrics_port = free_port();
    let running = start(&dir, metrics_port, "[api]\nbasic_auth = true\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for _ in 0..3 {
        let answer = check_with(
            running.port,
            Some(("Authorization", format!("Basic {encoded}"))),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let scraped = scrape(metrics_port);
    for (series, expected) in [
        (
            "postern_checks_total{proxy=\"traefik\",outcome=\"allowed\"}",
            3.0,
        ),
        (
            "postern_logins_total{method=\"password\",outcome=\"ok\"}",
            1.0,
        ),
    ] {
        assert_eq!(
            value(&scraped, series),
            Some(expected),
            "{series} in:\n{scraped}"
        );
    }
}

/// A scrape of a memory-store server and of a Redis server with the client cache, after a
/// check answered from that cache: between them, every metric postern has.
fn scrapes_of_both_stores() -> (String, String) {
    let dir = TempDir::new("metrics-memory");
    let memory_port = free_port();
    let _memory = start(&dir, memory_port, "");
    let memory = scrape(memory_port);

    let redis = RedisServer::start();
    let dir = TempDir::new("metrics-redis");
    let redis_port = free_port();
    let running = start(
        &dir,
        redis_port,
        &format!(
            "[session]\nstore = \"redis\"\n[session.redis]\nnodes = [\"127.0.0.1:{}\"]\nclient_cache = true\n",
            redis.port
        ),
    );
    let cookie = sign_in(running.port);
    wait_for("a client cache hit", || {
        assert!(check(running.port, Some(&cookie)).starts_with("HTTP/1.1 200"));
        value(&scrape(redis_port), "postern_redis_client_cache_hits_total")
            .is_some_and(|hits| hits >= 1.0)
    });
    (memory, scrape(redis_port))
}

#[test]
fn every_documented_metric_and_every_dashboard_query_is_in_a_real_scrape() {
    let (memory, redis) = scrapes_of_both_stores();
    let scraped: BTreeSet<String> = series_names(&memory)
        .into_iter()
        .chain(series_names(&redis))
        .collect();
    assert!(
        value(&redis, "postern_redis_client_cache_misses_total")
            .is_some_and(|misses| misses >= 1.0),
        "{redis}"
    );

    let docs = workspace_file("docs/metrics.md");
    let documented: Vec<&str> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .filter(|name| name.starts_with("postern_") || name.starts_with("process_"))
        .collect();
    assert!(documented.len() >= 18, "{documented:?}");
    let histogram_or_plain =
        |name: &str| scraped.contains(name) || scraped.contains(&format!("{name}_count"));
    let undocumented: Vec<&String> = scraped
        .iter()
        .filter(|name| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            !documented.contains(&base)
        })
        .collect();
    let missing: Vec<&&str> = documented
        .iter()
        .filter(|name| !histogram_or_plain(name))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not scraped: {missing:?}"
    );
    assert!(
        undocumented.is_empty(),
        "scraped but not in docs/metrics.md: {undocumented:?}"
    );

    let dashboard: serde_json::Value =
        serde_json::from_str(&workspace_file("deploy/grafana/postern.json")).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("postern_") || word.starts_with("process_") {
                    queried.insert(word.to_owned());
                }
            }
        }
    }
    assert!(queried.len() >= 12, "{queried:?}");
    let unknown: Vec<&String> = queried
        .iter()
        .filter(|name| !scraped.contains(*name))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics no scrape has: {unknown:?}"
    );
}
