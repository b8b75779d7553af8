//! nginx from deploy/nginx: the example site.conf and both snippets, inside a minimal
//! nginx.conf that keeps this instance private (foreground, pid and temp files in its own
//! directory, log to stderr).

use std::process::Command;

use super::deploy::{read, replace_every, replace_once, uncomment};
use super::peers;
use super::process::Process;
use super::proxy::Ports;
use super::scratch::ScratchDir;

/// The harness around the shipped site.conf; stands in for /etc/nginx/nginx.conf.
const MAIN_CONF: &str = "\
daemon off;
worker_processes 1;
pid nginx.pid;
error_log stderr notice;
events { worker_connections 768; }   # Debian's /etc/nginx/nginx.conf default
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include site.conf;
}
";

/// `portal`: with the commented portal server block uncommented.
pub fn start(dir: &ScratchDir, ports: &Ports, portal: bool) -> Process {
    let file = "nginx/site.conf";
    let mut site = read(file);
    if portal {
        site = uncomment(file, &site, "server {");
    }
    let site = replace_once(
        file,
        &site,
        "server 127.0.0.1:3000;",
        &format!("server 127.0.0.1:{};", ports.postern),
    );
    let site = replace_every(
        file,
        &site,
        "listen 80;",
        &format!("listen 127.0.0.1:{};", ports.listen),
        if portal { 2 } else { 1 },
    );
    let site = replace_once(
        file,
        &site,
        "listen 80 default_server;",
        &format!("listen 127.0.0.1:{} default_server;", ports.listen),
    );
    let site = replace_once(
        file,
        &site,
        "proxy_pass http://127.0.0.1:8080;",
        &format!("proxy_pass http://127.0.0.1:{};", ports.upstream),
    );
    dir.write("site.conf", &site);
    copy_snippets(dir);
    let main_conf = dir.write("nginx.conf", MAIN_CONF);
    std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp dir");

    let mut command = Command::new(peers::nginx());
    command
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&main_conf)
        .args(["-e", "stderr"]);
    Process::spawn("nginx", command, &dir.join("nginx.log"))
}

/// Every file in deploy/nginx/snippets, verbatim, where site.conf's relative includes find them.
pub fn copy_snippets(dir: &ScratchDir) {
    let source = peers::workspace_root().join("deploy/nginx/snippets");
    for entry in
        std::fs::read_dir(&source).unwrap_or_else(|e| panic!("read {}: {e}", source.display()))
    {
        let name = entry
            .expect("snippet entry")
            .file_name()
            .into_string()
            .expect("UTF-8 snippet name");
        dir.write(
            &format!("snippets/{name}"),
            &read(&format!("nginx/snippets/{name}")),
        );
    }
}
