//! The Debian package, built with `cargo deb` and installed on this machine: the files and
//! the `postern` user land where the unit expects them, `postern config check` passes on the
//! installed config, the installed binary serves as the `postern` user (and can rewrite its
//! users file in the unit's state directory: the bcrypt -> argon2id upgrade), systemd-analyze
//! accepts the installed unit, and `dpkg -r` / `dpkg -P` remove it all. Needs root, dpkg and
//! cargo-deb (`.ci/install-peers` installs it); the package is purged again at the end, also
//! when the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PACKAGE: &str = "postern";
const BINARY: &str = "/usr/bin/postern";
const CONFIG: &str = "/etc/postern/postern.toml";
const USERS: &str = "/var/lib/postern/users";
const UNIT: &str = "/usr/lib/systemd/system/postern.service";
const PASSWORD: &str = "an upgraded bcrypt password";

fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} cannot run ({err}): it is needed here"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("ok installed"))
}

/// Purges the package when dropped, so no run leaves it installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-P", PACKAGE]).output();
    }
}

/// `cargo deb` with the test's own (dev) build: the same metadata, assets and scripts as a
/// release package, without a second, slow optimised build.
fn build_deb(out: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(has_cargo_deb, "cargo-deb is missing: run .ci/install-peers");
    let output = Command::new(&cargo)
        .current_dir(&root)
        .args(["deb", "-p", PACKAGE, "--profile", "dev", "--fast", "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo deb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let built: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    let with_extension = |wanted: &str| {
        built
            .iter()
            .find(|path| path.extension().is_some_and(|ext| ext == wanted))
            .cloned()
    };
    // The symbols go to their own package (`dbgsym = true`), not into /usr/bin/postern.
    assert!(
        with_extension("ddeb").is_some(),
        "no -dbgsym .ddeb beside the package: {built:?}"
    );
    with_extension("deb").expect("no .deb built")
}

/// The section names of an ELF file, from `readelf -S`.
fn sections(path: &str) -> String {
    String::from_utf8_lossy(&run("readelf", &["-S", "-W", path]).stdout).into_owned()
}

fn owner_and_mode(path: &str) -> (String, String, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let name = |id: u32, db: &str| {
        let out = run("getent", &[db, &id.to_string()]);
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    (
        name(meta.uid(), "passwd"),
        name(meta.gid(), "group"),
        meta.permissions().mode() & 0o7777,
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The installed binary with the installed config, as the `postern` user, the way the unit
/// runs it: working directory the state directory, the secret handed over in a file of its
/// own (the unit's LoadCredential), a free port instead of 3000.
fn serve_as_the_postern_user(secret: &Path, port: u16, log: &Path) -> Child {
    Command::new("setpriv")
        .args(["--reuid=postern", "--regid=postern", "--init-groups", "--"])
        .args([BINARY, "serve", "--config", CONFIG])
        .current_dir("/var/lib/postern")
        .env_clear()
        .env("POSTERN_SECRET_FILE", secret)
        .env("POSTERN_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("POSTERN_APP_URL", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn the_deb_installs_serves_as_its_user_and_removes_cleanly() {
    let uid = run("id", &["-u"]);
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "dpkg -i needs root"
    );
    if installed() {
        run("dpkg", &["-P", PACKAGE]);
    }
    let work = std::env::temp_dir().join(format!("postern-deb-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let deb = build_deb(&work);

    let _purge = Installed;
    run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(installed());
    run("getent", &["passwd", "postern"]);
    assert_eq!(
        owner_and_mode(BINARY),
        ("root".into(), "root".into(), 0o755)
    );
    let installed_sections = sections(BINARY);
    for debug in [".debug_info", ".debug_line"] {
        assert!(
            !installed_sections.contains(debug),
            "the installed binary carries {debug}: the package must ship it stripped"
        );
    }
    assert_eq!(
        owner_and_mode("/etc/postern"),
        ("root".into(), "postern".into(), 0o750)
    );
    assert_eq!(
        owner_and_mode(CONFIG),
        ("root".into(), "postern".into(), 0o640)
    );
    assert_eq!(
        owner_and_mode("/etc/postern/secret"),
        ("root".into(), "root".into(), 0o600)
    );
    assert_eq!(owner_and_mode("/etc/postern/admin-password").2, 0o600);
    assert_eq!(
        owner_and_mode("/var/lib/postern"),
        ("postern".into(), "postern".into(), 0o750)
    );
    assert_eq!(owner_and_mode(USERS).0, "postern");
    assert!(
        std::fs::read_to_string(USERS)
            .unwrap()
            .starts_with("admin:$argon2id$")
    );

    let check = run(BINARY, &["config", "check", "--config", CONFIG]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("1 user(s)"));
    let verify = run("systemd-analyze", &["verify", UNIT]);
    assert!(
        verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = run(
        "systemd-analyze",
        &["security", "--offline=true", "--no-pager", UNIT],
    );
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .split("Overall exposure level for postern.service: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(exposure <= 2.0, "{report}");

    // The admin's first password works; then a bcrypt hash (as a tinyauth file has) is
    // replaced by argon2id at the first sign-in: the postern user can write its users file.
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(USERS, format!("admin:{bcrypt}\n")).unwrap();
    run("chown", &["postern:postern", USERS]);
    let secret = work.join("credential-secret");
    std::fs::copy("/etc/postern/secret", &secret).unwrap();
    run(
        "chown",
        &["postern", secret.to_str().unwrap(), work.to_str().unwrap()],
    );
    let port = free_port();
    let log = work.join("postern.log");
    let mut child = serve_as_the_postern_user(&secret, port, &log);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the installed postern did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = format!("{{\"username\":\"admin\",\"password\":\"{PASSWORD}\"}}");
    let signed_in = http(
        port,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(signed_in.starts_with("HTTP/1.1 200"), "{signed_in}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(USERS)
        .unwrap()
        .starts_with("admin:$argon2id$")
    {
        assert!(
            Instant::now() < deadline,
            "the users file was not upgraded:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(owner_and_mode(USERS).0, "postern");
    let _ = child.kill();
    let _ = child.wait();

    run("dpkg", &["-r", PACKAGE]);
    assert!(!Path::new(BINARY).exists() && !Path::new(UNIT).exists());
    assert!(
        Path::new(CONFIG).exists(),
        "dpkg -r keeps the config (a conffile)"
    );
    run("dpkg", &["-P", PACKAGE]);
    assert!(!installed());
    for gone in ["/etc/postern", "/var/lib/postern"] {
        assert!(!Path::new(gone).exists(), "{gone} is left after a purge");
    }
    assert!(
        !Command::new("getent")
            .args(["passwd", "postern"])
            .status()
            .unwrap()
            .success()
    );
    let _ = std::fs::remove_dir_all(&work);
}
