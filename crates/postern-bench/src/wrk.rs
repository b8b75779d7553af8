//! Runs wrk, with the cookie-rotating Lua script where a scenario needs many sessions or with
//! one fixed cookie where it does not, parses its `--latency` report, and measures wrk's own
//! CPU time (a client core near 100 % caps the throughput a row can show).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::procs;

/// Picks each request's cookie from a list (one value per line, the file named after `--`),
/// cycling from a random start, so requests rotate over many sessions.
///
/// Every request is formatted once, in `init`, and `request()` only hands the next one out.
/// Formatting per request (`wrk.format()` after setting the cookie, as this script did until
/// the fifteenth session) made wrk the bottleneck: its core saturated at about 110,000 checks
/// a second, so row c read wrk's limit and wrk's queue as postern's p99. Measured by hand on
/// one machine, postern-seeded on core 0 with 100,000 sessions, wrk `-t1 -c32 -d5s` on core 1,
/// alternated twice: per request 9.0 µs of wrk CPU → 6.6 µs; 110,000 → 132,000 req/s, the
/// server's core 88 % → 99 %; p99 0.70–0.72 ms → 0.42–0.45 ms; postern's own CPU per request
/// 8.0 → 7.5 µs. The list costs wrk about 270 bytes a session (27 MB for 100,000); building it
/// does not show in wrk's CPU time (a one-second run, one connection: 0.47 s either way).
pub const COOKIE_SCRIPT: &str = r#"-- postern-bench: rotate the session cookie over a list of values
local requests = {}
local next_index = 1

function init(args)
  -- Format the request once around a marker, then splice each cookie in.
  wrk.headers["Cookie"] = "postern_session=@COOKIE@"
  local template = wrk.format()
  local at = string.find(template, "@COOKIE@", 1, true)
  local head = string.sub(template, 1, at - 1)
  local tail = string.sub(template, at + string.len("@COOKIE@"))
  for line in io.lines(args[1]) do
    requests[#requests + 1] = head .. line .. tail
  end
  math.randomseed(os.time() + (id or 0))
  next_index = math.random(#requests)
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
"#;

/// What one wrk run reported.
#[derive(Debug, Clone, Default)]
pub struct WrkRun {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    /// Answers outside 2xx and 3xx.
    pub bad_status: u64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
    /// wrk's utime + stime over the run, in seconds (from bash's `times`).
    pub client_cpu_secs: f64,
}

pub struct Load<'a> {
    pub wrk: &'a Path,
    pub core: Option<usize>,
    pub connections: usize,
    pub duration: Duration,
    /// The cookie-rotating script; `None` sends the first cookie of the list on every
    /// request (the same request bytes, without Lua's cost on the client core).
    pub script: Option<&'a Path>,
}

impl Load<'_> {
    pub fn run(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        cookies: &Path,
    ) -> anyhow::Result<WrkRun> {
        // bash runs wrk, then prints its children's CPU times (`times`, second line) on
        // stderr; wrk's own exit status is kept.
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(r#""$@"; status=$?; times >&2; exit $status"#)
            .arg("wrk-with-times");
        let wrk = procs::command(self.wrk, self.core);
        command.arg(wrk.get_program()).args(wrk.get_args());
        command
            .arg("-t1")
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .arg("--latency")
            .arg("--timeout")
            .arg("5s");
        match self.script {
            Some(script) => {
                command.arg("-s").arg(script);
            }
            None => {
                command
                    .arg("-H")
                    .arg(format!("Cookie: postern_session={}", first_line(cookies)?));
            }
        }
        for (name, value) in headers {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
        command.arg(url);
        if self.script.is_some() {
            command.arg("--").arg(cookies);
        }
        let output = command
            .stdin(Stdio::null())
            .output()
            .context("cannot run wrk")?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {}{}",
                output.status,
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let client_cpu_secs = children_cpu_secs(&String::from_utf8_lossy(&output.stderr))?;
        let mut run = parse(&text).with_context(|| format!("cannot read wrk's report:\n{text}"))?;
        run.client_cpu_secs = client_cpu_secs;
        Ok(run)
    }
}

/// The first cookie of a cookie list.
pub fn first_line(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)?
        .lines()
        .next()
        .map(str::to_owned)
        .context("empty cookie list")
}

/// The children's user + system time from bash's `times` (its second line:
/// `0m1.234s 0m0.567s`), in seconds.
fn children_cpu_secs(stderr: &str) -> anyhow::Result<f64> {
    let line = stderr
        .lines()
        .next_back()
        .context("no `times` line from bash")?;
    line.split_whitespace()
        .map(|part| -> anyhow::Result<f64> {
            let (minutes, seconds) = part
                .trim_end_matches('s')
                .split_once('m')
                .with_context(|| format!("not a `times` value: {part:?}"))?;
            Ok(minutes.parse::<f64>()? * 60.0 + seconds.parse::<f64>()?)
        })
        .sum()
}

pub fn parse(text: &str) -> anyhow::Result<WrkRun> {
    let mut run = WrkRun::default();
    let mut seen_rate = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            run.requests_per_sec = rate.trim().parse()?;
            seen_rate = true;
        } else if let Some(latency) = line.strip_prefix("50%") {
            run.p50_ms = latency_ms(latency.trim())?;
        } else if let Some(latency) = line.strip_prefix("99%") {
            run.p99_ms = latency_ms(latency.trim())?;
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.bad_status = count.trim().parse()?;
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            run.socket_errors = errors
                .split(',')
                .filter_map(|part| part.split_whitespace().last())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum();
        } else if line.contains(" requests in ") {
            run.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if !seen_rate {
        bail!("no Requests/sec line");
    }
    Ok(run)
}

/// wrk's latencies: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn latency_ms(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .context("latency without a unit")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        other => bail!("unknown latency unit {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 3s test @ http://127.0.0.1:4000/\n  1 threads and 32 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   412.33us  101.10us   3.02ms   80.00%\n    Req/Sec    75.20k     2.10k   79.00k    70.00%\n  Latency Distribution\n     50%  398.00us\n     75%  450.00us\n     90%  520.00us\n     99%    1.10ms\n  225600 requests in 3.00s, 30.12MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 5\nRequests/sec:  75199.12\nTransfer/sec:     10.04MB\n";

    #[test]
    fn parses_the_latency_report() {
        let run = parse(SAMPLE).unwrap();
        assert!((run.requests_per_sec - 75199.12).abs() < 1e-6);
        assert!((run.p50_ms - 0.398).abs() < 1e-9);
        assert!((run.p99_ms - 1.10).abs() < 1e-9);
        assert_eq!(run.requests, 225_600);
        assert_eq!(run.socket_errors, 3);
        assert_eq!(run.bad_status, 5);
    }

    #[test]
    fn reads_the_childrens_cpu_time_from_times() {
        let stderr = "0m0.002s 0m0.001s\n1m2.500s 0m0.250s\n";
        assert!((children_cpu_secs(stderr).unwrap() - 62.75).abs() < 1e-9);
    }

    #[test]
    fn refuses_a_report_without_a_rate() {
        assert!(parse("wrk: connection refused").is_err());
    }

    /// Every request wrk sends (heads only: no bodies), each answered with an empty 200.
    /// Connections are served one after another: wrk's own probe (it connects once and
    /// closes before the run), then its one keep-alive connection. The first connection
    /// without a request after some requests (the test's own, once wrk has exited) ends it.
    fn record_requests(listener: std::net::TcpListener) -> Vec<String> {
        use std::io::{Read, Write};
        let mut requests = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let (before, mut pending, mut buf) = (requests.len(), Vec::new(), [0_u8; 4096]);
            while let Ok(read @ 1..) = stream.read(&mut buf) {
                pending.extend_from_slice(&buf[..read]);
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head: Vec<u8> = pending.drain(..end + 4).collect();
                    requests.push(String::from_utf8_lossy(&head).into_owned());
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if stream.write_all(answer).is_err() {
                        break;
                    }
                }
            }
            if requests.len() == before && before > 0 {
                break;
            }
        }
        requests
    }

    #[test]
    fn the_cookie_script_sends_each_cookie_of_the_list_in_turn_in_an_otherwise_unchanged_request() {
        let dir = postern_testkit::TempDir::new("cookie-script");
        let script = dir.path().join("cookies.lua");
        std::fs::write(&script, COOKIE_SCRIPT).unwrap();
        let cookies: Vec<String> = (0..50).map(|i| format!("cookie{i:04}.value")).collect();
        let list = dir.path().join("cookies.txt");
        std::fs::write(&list, cookies.join("\n") + "\n").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || record_requests(listener));
        let wrk = postern_testkit::require_tool("wrk");
        let load = Load {
            wrk: &wrk,
            core: None,
            connections: 1,
            duration: Duration::from_secs(1),
            script: Some(&script),
        };
        let run = load
            .run(
                &format!("http://{addr}/api/auth/traefik"),
                &[("X-Forwarded-Host", "app.example.com")],
                &list,
            )
            .unwrap();
        drop(std::net::TcpStream::connect(addr).unwrap());
        let requests = server.join().unwrap();
        assert!(
            requests.len() > cookies.len() * 2,
            "{} requests",
            requests.len()
        );
        assert_eq!(run.bad_status, 0);
        let sent: Vec<&str> = requests
            .iter()
            .map(|request| {
                assert!(
                    request.starts_with("GET /api/auth/traefik HTTP/1.1\r\n"),
                    "{request}"
                );
                assert!(
                    request.contains("\r\nX-Forwarded-Host: app.example.com\r\n"),
                    "{request}"
                );
                assert!(
                    request.contains(&format!("\r\nHost: {addr}\r\n")),
                    "{request}"
                );
                request
                    .split("\r\n")
                    .find_map(|line| line.strip_prefix("Cookie: postern_session="))
                    .unwrap_or_else(|| panic!("no session cookie in {request}"))
            })
            .collect();
        // In turn from a random start: each request carries the list's next cookie.
        let start = cookies.iter().position(|c| c == sent[0]).unwrap();
        for (i, cookie) in sent.iter().enumerate() {
            assert_eq!(*cookie, cookies[(start + i) % cookies.len()], "request {i}");
        }
    }
}
