//! The data file's disk fails while postern runs on the embedded store: it fills up, or its
//! filesystem turns read-only. Real filesystems under the real binary, no mock:
//! - full: a 16 MiB tmpfs mounted over the data directory in a mount namespace of postern's
//!   own (`unshare`; without root, in a user namespace too), filled by a file of the test's,
//!   written through `/proc/<pid>/root` (that namespace's view), and deleted to give the space
//!   back;
//! - read-only: ext4 on a loop device, turned read-only by the kernel's own error handling
//!   (`errors=remount-ro`, triggered through `/sys/fs/ext4/<dev>/trigger_fs_error`, as a disk
//!   error would), then checked and mounted again. Loop devices need root: without it the test
//!   fails, it is not skipped.
//!
//! Either way: sign-ins fail closed (503, JSON for the API, a page for the form), checks of
//! committed sessions keep answering 200, the process keeps serving, the problem is logged once
//! (plus the outage summary every 10 s, never a line per request), and sign-ins work again
//! once the disk does, without a restart.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// Through the trusted loopback proxy, each sign-in from an address of its own: the test
/// signs in often, and no failure limit should answer for the disk.
fn sign_in_from(port: u16, attempt: usize) -> String {
    let client = format!("10.7.{}.{}", attempt / 250, attempt % 250 + 1);
    let body = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
    exchange(
        port,
        "POST",
        "/api/login",
        &[("X-Forwarded-For", client.as_str())],
        &body,
    )
    .unwrap_or_else(|| panic!("no answer to a sign-in"))
}

/// The sign-in form, as a browser sends it: the page's CSRF cookie and token, then the POST.
fn sign_in_with_form(port: u16) -> String {
    let page = get(port, "/login", &[]).unwrap();
    let cookie = page
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_csrf="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_csrf={value}"))
        .unwrap_or_else(|| panic!("no CSRF cookie on the login page:\n{page}"));
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token on the login page:\n{page}"));
    let body = format!(
        "username=alice&password={}&csrf={token}",
        PASSWORD.replace(' ', "+")
    );
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    exchange(port, "POST", "/login", &headers, &body).unwrap()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|line| line.contains(needle)).count()
}

fn logged(log: &str, event: &str) -> usize {
    count(log, &format!("\"event\":\"{event}\""))
}

/// `down` is logged once per change of state, never once per refused request: at least once,
/// and at most once more than its `up` (so a fault that comes back is logged again, but only
/// after a line saying it went). A full disk can flap: after a failed commit the store opens
/// the file again (at most once a second), and a small commit may then fit in the pages the
/// reopen freed before the next one fails.
fn logged_per_change(log: &str, down: &str, up: &str, fault: &str) -> usize {
    let (downs, ups) = (logged(log, down), logged(log, up));
    assert!(
        downs >= 1 && downs <= ups + 1,
        "{fault}: {down} logged {downs} times, {up} {ups} times:\n{log}"
    );
    downs
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A config on the embedded store in `data`, JSON logs, limits that leave the disk to answer.
fn disk_config(dir: &TempDir, port: u16, data: &Path) -> PathBuf {
    let extra = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"json\"\n\
         [limits]\napi_rate = 100000\napi_burst = 100000\n",
        data.display()
    );
    dir.write("postern.toml", &config(port, &extra))
}

/// What both faults must show once the disk stopped taking writes: sign-ins refused with a
/// 503 (JSON and page), `kept` sessions still checked 200, the liveness probe answering, and
/// one log line for the problem, not one per request. Answers the sessions signed in while
/// the disk still took (some) writes.
fn refuses_writes_and_keeps_serving(running: &Running, kept: &[String], fault: &str) {
    let port = running.port;
    // Refused now (read-only), or once a commit needs a page the disk no longer has (full).
    let mut refused = None;
    for attempt in 0..400 {
        let answer = sign_in_from(port, attempt);
        match status(&answer) {
            200 => continue,
            503 => {
                refused = Some((attempt, answer));
                break;
            }
            other => panic!("{fault}: a sign-in answered {other}:\n{answer}"),
        }
    }
    let (accepted, answer) = refused.unwrap_or_else(|| panic!("{fault}: sign-ins never failed"));
    eprintln!("{fault}: the first sign-in refused came after {accepted} accepted");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["status"], 503, "{answer}");
    assert_eq!(json["message"], "Service Unavailable", "{answer}");

    let page = sign_in_with_form(port);
    assert_eq!(status(&page), 503, "{fault}: the form:\n{page}");
    assert!(page.contains("text/html"), "{page}");
    assert!(page.contains("Sign-in is unavailable"), "{page}");

    let refused_before = 20;
    for attempt in 0..refused_before {
        let answer = sign_in_from(port, 1000 + attempt);
        assert_eq!(status(&answer), 503, "{fault}: {answer}");
    }
    for cookie in kept {
        for _ in 0..5 {
            assert_eq!(
                check_session(port, cookie),
                200,
                "{fault}: a committed session"
            );
        }
    }
    let live = get(port, "/api/healthcheck", &[]).unwrap();
    assert!(live.starts_with("HTTP/1.1 200"), "{fault}: {live}");

    let log = running.log_text();
    // Shown with `--nocapture`, and when the test fails.
    eprintln!("{fault}, the log so far:\n{log}");
    let unwritable = logged_per_change(
        &log,
        "store.data_file_unwritable",
        "store.data_file_writable",
        fault,
    );
    let outages = logged_per_change(&log, "store.outage_started", "store.outage_ended", fault);
    // Those, and a summary every 10 s: never a line per refused request (over 20 were).
    let summaries = logged(&log, "store.outage_continues");
    let errors = count(&log, "\"level\":\"ERROR\"");
    assert_eq!(
        errors,
        unwritable + outages + summaries,
        "{fault}: an error line per request?\n{log}"
    );
    assert!(
        errors < refused_before,
        "{fault}: {errors} error lines for {refused_before} refused sign-ins:\n{log}"
    );
}

/// Sign-ins work again (the file is reopened at most once a second after a failure), the
/// new session checks 200, and the log says the outage ended.
fn recovers(running: &Running, fault: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 2000;
    let cookie = loop {
        let answer = sign_in_from(running.port, attempt);
        attempt += 1;
        if status(&answer) == 200 {
            break session_cookie(&answer).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{fault}: sign-ins never worked again:\n{answer}\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(check_session(running.port, &cookie), 200);
    let log = running.log_text();
    // The last change of state is back up: as many ups as downs.
    for (down, up) in [
        ("store.data_file_unwritable", "store.data_file_writable"),
        ("store.outage_started", "store.outage_ended"),
    ] {
        let (downs, ups) = (logged(&log, down), logged(&log, up));
        assert!(
            ups >= 1 && ups == downs,
            "{fault}: {down} {downs} times, {up} {ups} times:\n{log}"
        );
    }
    cookie
}

fn first_session(port: u16) -> String {
    let answer = sign_in_from(port, 0);
    assert_eq!(status(&answer), 200, "{answer}");
    let cookie = session_cookie(&answer).unwrap();
    assert_eq!(check_session(port, &cookie), 200);
    cookie
}

/// Writes zeros to `path` until the filesystem has no room left; answers the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(err) if err.raw_os_error() == Some(28) => break, // ENOSPC
            Err(err) => panic!("filling {}: {err}", path.display()),
        }
    }
    written
}

#[test]
fn a_full_disk_refuses_sign_ins_keeps_sessions_and_recovers_when_space_is_back() {
    let dir = TempDir::new("disk-full");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let config = disk_config(&dir, port, &data);
    let mut wrapper: Vec<String> = ["unshare", "--mount", "--propagation", "private"]
        .map(String::from)
        .to_vec();
    if !is_root() {
        // Mounting needs root in some namespace: a user namespace of its own gives it.
        wrapper.push("--map-root-user".into());
    }
    wrapper.extend([
        "sh".into(),
        "-c".into(),
        "mount -t tmpfs -o size=16m,mode=0700 postern-full \"$0\" && exec \"$@\"".into(),
        data.display().to_string(),
    ]);
    let running = Running::start_under(&dir, &config, port, &wrapper);
    let kept = first_session(running.port);

    // The data directory as postern sees it, inside its mount namespace.
    let seen = PathBuf::from(format!("/proc/{}/root", running.child.id())).join(
        data.strip_prefix("/")
            .unwrap_or_else(|_| panic!("{} is not absolute", data.display())),
    );
    let filler = seen.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "the tmpfs was full before the test filled it");
    eprintln!("filled the data directory with {filled} bytes");
    refuses_writes_and_keeps_serving(&running, std::slice::from_ref(&kept), "disk full");

    std::fs::remove_file(&filler).unwrap();
    recovers(&running, "disk full");
    assert_eq!(check_session(running.port, &kept), 200);
}

#[test]
fn a_filesystem_turned_read_only_refuses_sign_ins_and_recovers_after_a_remount() {
    assert!(
        is_root(),
        "this test attaches a loop device, which needs root (CI runs as root); run it as root"
    );
    let dir = TempDir::new("disk-ro");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let image = dir.0.join("data.ext4");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let made = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&image)
        .status()
        .unwrap_or_else(|err| panic!("mkfs.ext4 (e2fsprogs, see .ci/install-peers): {err}"));
    assert!(made.success());
    let port = free_port();
    let config = disk_config(&dir, port, &data);
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -o loop,errors=remount-ro \"$0\" \"$1\" && shift && exec \"$@\"",
    ]
    .map(String::from)
    .into_iter()
    .chain([image.display().to_string(), data.display().to_string()])
    .collect::<Vec<_>>();
    let running = Running::start_under(&dir, &config, port, &wrapper);
    let kept = first_session(running.port);
    let pid = running.child.id();

    // The loop device under the data directory, from postern's own mount table.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let device = mounts
        .lines()
        .find(|line| line.split(' ').nth(4) == Some(data.to_str().unwrap()))
        .and_then(|line| line.split(" - ").nth(1))
        .and_then(|fields| fields.split(' ').nth(1))
        .and_then(|source| source.strip_prefix("/dev/"))
        .unwrap_or_else(|| panic!("no loop mount at {} in:\n{mounts}", data.display()))
        .to_owned();
    // What ext4 does on a disk error it cannot ignore: the filesystem turns read-only.
    std::fs::write(format!("/sys/fs/ext4/{device}/trigger_fs_error"), "1").unwrap();
    refuses_writes_and_keeps_serving(&running, std::slice::from_ref(&kept), "read-only");

    // The operator's fix: unmount, check, mount again. The unmount is lazy: postern's admin
    // socket, bound under the data directory at start, keeps the old mount busy (the admin
    // channel stays on it until a restart), and with it the old loop device, which `mount -o
    // loop` would reuse, read-only filesystem and all. So the checked filesystem is a copy of
    // the image, on a loop device of its own. The data file is reopened by path, on it.
    let fixed = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "sh", "-c"])
        .arg(
            "umount -l \"$1\" && cp --sparse=always \"$0\" \"$0.fixed\" \
             && { e2fsck -fy \"$0.fixed\" >/dev/null; mount -o loop \"$0.fixed\" \"$1\"; }",
        )
        .arg(&image)
        .arg(&data)
        .status()
        .unwrap();
    assert!(fixed.success(), "the remount failed");
    recovers(&running, "read-only");
    assert_eq!(check_session(running.port, &kept), 200);
}
