//! nginx configs for the proxy scenarios. The auth variants include the shipped snippets from
//! `deploy/nginx/snippets/` unchanged; only the `postern` upstream's port differs between
//! "auth_request to postern" and "auth_request to bare hyper".

use std::path::Path;

pub enum Site {
    /// `return 200` from nginx itself, with an empty body (`Content-Length: 0`).
    Return200,
    /// Proxy to the app, no auth.
    NoAuth { app: u16 },
    /// The shipped snippets: auth_request to `auth`, then proxy to the app.
    AuthRequest { auth: u16, app: u16 },
}

pub fn config(dir: &Path, snippets: &Path, listen: u16, site: &Site) -> String {
    let dir = dir.display();
    let snippets = snippets.display();
    let (upstreams, server) = match site {
        Site::Return200 => (
            String::new(),
            "    location / {\n        return 200;\n    }\n".to_owned(),
        ),
        Site::NoAuth { app } => (upstream("app", *app), app_location("")),
        Site::AuthRequest { auth, app } => (
            format!("{}{}", upstream("postern", *auth), upstream("app", *app)),
            format!(
                "    include {snippets}/postern-authrequest.conf;\n{}",
                app_location(&format!(
                    "        include {snippets}/postern-protect.conf;\n"
                ))
            ),
        ),
    };
    format!(
        "worker_processes 1;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n    access_log off;\n\
         \x20   client_body_temp_path {dir}/client_body;\n    proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n\
         {upstreams}\
         \x20   server {{\n        listen 127.0.0.1:{listen};\n{server}    }}\n}}\n"
    )
}

fn upstream(name: &str, port: u16) -> String {
    format!(
        "    upstream {name} {{\n        server 127.0.0.1:{port};\n        keepalive 64;\n    }}\n"
    )
}

/// The protected location of `deploy/nginx/site.conf`, with the app behind a keep-alive
/// upstream (site.conf's plain `proxy_pass` would open a connection per request, which
/// measures the kernel, not postern).
fn app_location(protect: &str) -> String {
    format!(
        "    location / {{\n{protect}\
         \x20       proxy_pass http://app;\n\
         \x20       proxy_http_version 1.1;\n\
         \x20       proxy_set_header Connection \"\";\n\
         \x20       proxy_set_header Host $http_host;\n\
         \x20       proxy_set_header X-Forwarded-Proto $scheme;\n\
         \x20       proxy_set_header X-Forwarded-For $remote_addr;\n    }}\n"
    )
}
