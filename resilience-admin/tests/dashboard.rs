//! The dashboard in a real browser: a headless Chromium loads the page from the admin router on
//! a loopback port, shows the policies, and a breaker tripped by the test turns open on the
//! page, pushed by the event stream. A screenshot is kept for a person to look at
//! (`target/tmp/dashboard.png`), not compared.
//!
//! The browser is driven over the DevTools protocol. Where no Chromium is found (`CHROMIUM`, or
//! `chromium`, `chromium-browser`, `google-chrome` on the `PATH`) the test says so and passes;
//! `.ci/run` installs Debian's `chromium`, so CI always runs it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use resilience_admin::Admin;
use resilience_runtime::{Bulkhead, CircuitBreaker, Failure, State, registry};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

static PAYMENTS: CircuitBreaker = match CircuitBreaker::builder("dashboard::PAYMENTS")
    .consecutive_failures(2)
    .open(Duration::from_secs(60))
    .build()
{
    Ok(b) => b,
    Err(_) => panic!("invalid breaker"),
};

static SLOTS: Bulkhead = match Bulkhead::builder("dashboard::SLOTS").max(8).build() {
    Ok(b) => b,
    Err(_) => panic!("invalid bulkhead"),
};

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
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
    .find(|candidate| candidate.is_file())
}

/// A headless browser and one page's DevTools connection.
struct Browser {
    _child: Child,
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: TempDir,
}

/// A directory removed when dropped (the browser's profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    async fn open(binary: &PathBuf, url: &str) -> Browser {
        let profile = TempDir(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("chromium-profile-{}", std::process::id())),
        );
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    return rest.split('/').next().unwrap().parse::<u16>().unwrap();
                }
            }
            panic!("Chromium exited without a DevTools port");
        })
        .await
        .expect("Chromium printed its DevTools port");
        // Keep reading its stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let target = tokio::time::timeout(
            Duration::from_secs(30),
            http(port, &format!("PUT /json/new?{url}")),
        )
        .await
        .expect("the DevTools endpoint answered");
        let target: Value = serde_json::from_str(&target).unwrap();
        let ws = target["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
        Browser {
            _child: child,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    /// One DevTools command; its result.
    async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let answer = Duration::from_secs(30);
        while let Some(message) = tokio::time::timeout(answer, self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} in {answer:?}"))
        {
            let Message::Text(text) = message.unwrap() else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
        panic!("the DevTools connection closed");
    }

    /// A JavaScript expression's value in the page.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .send(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page; panics with `what` after 30 s.
    async fn until(&mut self, expression: &str, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.eval(expression).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A request to the DevTools HTTP endpoint; the body of its answer.
async fn http(port: u16, request_line: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request =
        format!("{request_line} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // The endpoint keeps the connection open: read the headers, then `Content-Length` bytes.
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    String::from_utf8(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_policies_and_a_breaker_turning_open() {
    let Some(binary) = chromium() else {
        eprintln!(
            "SKIPPED: no Chromium found (set CHROMIUM, or install Debian's `chromium`; .ci/run does)"
        );
        return;
    };
    registry::register(&PAYMENTS);
    registry::register(&SLOTS);
    PAYMENTS.reset();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().nest("/admin", Admin::router());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = format!("http://{address}/admin/dashboard");
    let mut browser = Browser::open(&binary, &url).await;
    browser
        .until(
            "document.body && document.body.dataset.loaded === 'true' \
             && document.getElementById('live').textContent === 'live'",
            "its first snapshot and a live event stream",
        )
        .await;
    let tile = r#"document.querySelector('.tile[data-policy="dashboard::PAYMENTS"]')"#;
    assert_eq!(
        browser.eval(&format!("{tile}.dataset.state")).await,
        "closed"
    );
    assert_eq!(
        browser
            .eval(r#"!!document.querySelector('.tile[data-policy="dashboard::SLOTS"][data-kind="bulkhead"]')"#)
            .await,
        true,
        "every policy has a tile"
    );

    // Trip the breaker; the page is told by the event stream.
    for _ in 0..2 {
        let _ = PAYMENTS
            .call(async { Err::<(), _>(Failure::Error("down")) })
            .await;
    }
    assert_eq!(PAYMENTS.state(), State::Open);
    browser
        .until(
            &format!("{tile}.dataset.state === 'open'"),
            "the breaker open",
        )
        .await;
    // The transition happened after the page loaded its list of transitions: only the event
    // stream can have brought its row.
    browser
        .until(
            r#"[...document.querySelectorAll('.transition[data-policy="dashboard::PAYMENTS"]')]
                .some(row => row.dataset.from === 'closed' && row.dataset.to === 'open'
                    && row.textContent.includes('closed → open'))"#,
            "the transition closed → open",
        )
        .await;
    let badge = browser
        .eval(&format!("{tile}.querySelector('.state-badge').textContent"))
        .await;
    assert_eq!(badge, "open");

    // A screenshot for a person to look at.
    let shot = browser
        .send("Page.captureScreenshot", json!({ "format": "png" }))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}
