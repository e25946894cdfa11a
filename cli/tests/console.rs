//! The web console in a real browser: `roster dev` runs, a service is published through
//! the client library, and a headless Chromium, driven over the DevTools protocol, loads
//! the page from the admin port and must show the cluster's nodes and, once the service is
//! searched, its publisher; a switch turned on shows at the next poll.
//!
//! Without a Chromium binary the test is skipped with a message, unless
//! `ROSTER_REQUIRE_BROWSER` is set (as `.ci/run` does), when it fails instead.

mod common;

use common::{FAST, Proc};
use headless_chrome::{Browser, LaunchOptions, Tab};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// The Chromium to drive: `ROSTER_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROSTER_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The browser, or `None` when the test may be skipped.
fn browser() -> Option<Browser> {
    let Some(path) = chromium() else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_BROWSER").is_none(),
            "ROSTER_REQUIRE_BROWSER is set but no chromium binary was found \
             (apt-get install chromium, or set ROSTER_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED console::*: no chromium binary on PATH (apt-get install chromium; \
             set ROSTER_REQUIRE_BROWSER=1 to make a missing browser a failure)"
        );
        return None;
    };
    // A fresh profile per run (the crate makes a temporary --user-data-dir), no sandbox
    // (CI runs as root), nothing that reaches for the network on its own.
    let mut args = vec![
        "--disable-quic",
        "--disable-component-update",
        "--disable-background-networking",
        "--disable-sync",
        "--no-first-run",
    ];
    if common::tls::on() {
        // The TLS matrix's console is served under a throwaway CA the browser cannot be
        // given on its command line.
        args.push("--ignore-certificate-errors");
    }
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1280, 1000)))
        .args(args.iter().map(OsStr::new).collect())
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    Some(Browser::new(options).expect("chromium starts"))
}

/// Waits until the JavaScript `condition` is true on the page; on time-out, fails with
/// what the page shows.
fn wait_page(tab: &Tab, what: &str, condition: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let v = tab.evaluate(&format!("Boolean({condition})"), false);
        if let Ok(v) = &v
            && v.value == Some(serde_json::Value::Bool(true))
        {
            return;
        }
        if Instant::now() > deadline {
            let text = tab
                .evaluate("document.body.innerText", false)
                .ok()
                .and_then(|v| v.value);
            panic!("timed out waiting for {what} ({v:?}); the page shows:\n{text:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `s` as a JavaScript string literal.
fn js(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The members' addresses as the admin API gives them.
fn member_addresses(admin: &str) -> Vec<String> {
    let cluster: serde_json::Value = common::tls::http_agent(admin, true)
        .get(format!("{admin}/v1/cluster"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    cluster["members"]
        .as_array()
        .expect("a process running meta lists the members")
        .iter()
        .map(|m| m["address"].as_str().unwrap().to_string())
        .collect()
}

/// A running `roster dev`: the process, its admin URL, meta and session addresses.
struct Dev {
    _proc: Proc,
    admin: String,
    sessions: Vec<String>,
}

fn dev(token: Option<&str>) -> Dev {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("dev").args(FAST).env("ROSTER_LOG", "info");
    match token {
        Some(t) => cmd.env("ROSTER_ADMIN_TOKEN", t),
        None => cmd.env_remove("ROSTER_ADMIN_TOKEN"),
    };
    let proc = Proc::spawn("dev", cmd);
    let field = |prefix: &str| {
        let (_, line) = proc.wait_stdout(0, prefix, |l| l.starts_with(prefix));
        line[prefix.len()..].trim().to_string()
    };
    let admin = field("admin ");
    let sessions = field("sessions ").split(',').map(str::to_string).collect();
    Dev {
        _proc: proc,
        admin,
        sessions,
    }
}

#[test]
fn the_console_shows_the_nodes_and_finds_a_published_service() {
    let Some(browser) = browser() else { return };
    let dev = dev(None);
    let client = common::client(dev.sessions.clone()).unwrap();
    let publication = client.publish("console.svc", ["10.9.8.7:8080"]).unwrap();
    publication
        .wait_registered(DEADLINE)
        .expect("the session holds the publisher");

    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&format!("{}/", dev.admin))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    wait_page(
        &tab,
        "the console's first refresh",
        "document.body.dataset.loaded === 'true'",
    );
    // Every node of the dev cluster: its meta node, then its 3 data and 2 session nodes,
    // each by the address the membership gives it.
    wait_page(
        &tab,
        "six nodes",
        "document.querySelectorAll('#nodes tbody tr').length === 6",
    );
    let nodes = "document.querySelector('#nodes tbody').textContent";
    let members = member_addresses(&dev.admin);
    assert_eq!(
        members.len(),
        5,
        "3 data and 2 session members: {members:?}"
    );
    for address in &members {
        wait_page(&tab, address, &format!("{nodes}.includes({})", js(address)));
    }
    wait_page(
        &tab,
        "the meta leader",
        "document.querySelector('#meta-leader').textContent === '1'",
    );
    wait_page(
        &tab,
        "the slot grid",
        "document.querySelectorAll('#slot-grid .slot').length === 256",
    );

    tab.find_element("#key-input")
        .unwrap()
        .click()
        .unwrap()
        .type_into("console.svc")
        .unwrap();
    tab.find_element("#key-search").unwrap().click().unwrap();
    wait_page(
        &tab,
        "the publisher of console.svc",
        "document.querySelector('#publishers tbody').textContent.includes('10.9.8.7:8080')",
    );
    wait_page(
        &tab,
        "one publisher counted",
        "document.querySelector('#publisher-count').textContent === '1'",
    );
    // A switch turned on through the API shows, in red, at the next poll.
    wait_page(
        &tab,
        "the switches",
        "document.querySelector('#switch-table tbody').textContent.includes('all pushes')",
    );
    let r = common::tls::http_agent(&dev.admin, true)
        .put(format!("{}/v1/switches", dev.admin))
        .header("content-type", "application/json")
        .send(r#"{"changes": [{"switch": "client-off", "address": "10.9.9.9", "on": true}]}"#)
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_page(
        &tab,
        "the client-off switch on",
        "[...document.querySelectorAll('#switch-table tr.on')].some(r => r.textContent.includes('10.9.9.9'))",
    );
    assert_eq!(
        tab.evaluate("document.getElementById('error').hidden", false)
            .unwrap()
            .value,
        Some(serde_json::Value::Bool(true)),
        "no error shown"
    );
    drop(publication);
}

#[test]
fn the_console_asks_for_the_token_the_admin_port_requires() {
    let Some(browser) = browser() else { return };
    let dev = dev(Some("s3cret"));
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&format!("{}/ui/", dev.admin))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    wait_page(
        &tab,
        "the token form",
        "!document.getElementById('token-form').hidden",
    );
    wait_page(
        &tab,
        "the error saying why",
        "document.getElementById('error').textContent.includes('token')",
    );
    assert_eq!(
        tab.evaluate("document.querySelectorAll('#nodes tbody tr').length", false)
            .unwrap()
            .value,
        Some(serde_json::json!(0)),
        "nothing shown without the token"
    );
    tab.find_element("#token-input")
        .unwrap()
        .click()
        .unwrap()
        .type_into("s3cret")
        .unwrap();
    tab.press_key("Enter").unwrap();
    wait_page(
        &tab,
        "the nodes, once the token is given",
        "document.querySelectorAll('#nodes tbody tr').length === 6",
    );
    wait_page(
        &tab,
        "the form gone and no error",
        "document.getElementById('token-form').hidden && document.getElementById('error').hidden",
    );
}
