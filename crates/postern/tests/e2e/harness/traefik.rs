//! traefik with deploy/traefik/postern.yml as its file-provider configuration. The static
//! configuration (one entrypoint, the file provider, no update check or telemetry) is given
//! as flags; it is the user's own and not part of what postern ships.

use std::process::Command;

use super::deploy::{read, replace_every, replace_once, uncomment};
use super::peers;
use super::process::Process;
use super::proxy::{Ports, Variant};
use super::scratch::ScratchDir;

/// `Variant::Portal`: with the commented portal router uncommented, as a user serving the
/// portal through this traefik would. `Variant::TrustingItsClients`: the entry point trusts
/// the forwarded headers of 127.0.0.1.
pub fn start(dir: &ScratchDir, ports: &Ports, variant: Variant) -> Process {
    let file = "traefik/postern.yml";
    let mut dynamic = read(file);
    if variant == Variant::Portal {
        dynamic = uncomment(file, &dynamic, "postern:");
    }
    // forwardAuth's address and the portal service.
    let dynamic = replace_every(
        file,
        &dynamic,
        "http://postern:3000",
        &format!("http://127.0.0.1:{}", ports.postern),
        2,
    );
    let dynamic = replace_once(
        file,
        &dynamic,
        "http://whoami:80",
        &format!("http://127.0.0.1:{}", ports.upstream),
    );
    let dynamic = dir.write("postern.yml", &dynamic);

    let mut command = Command::new(peers::traefik());
    command
        .arg("--global.checkNewVersion=false")
        .arg("--global.sendAnonymousUsage=false")
        .arg(format!(
            "--entryPoints.web.address=127.0.0.1:{}",
            ports.listen
        ))
        .arg(format!("--providers.file.filename={}", dynamic.display()))
        .arg("--providers.file.watch=false")
        .arg("--log.level=INFO")
        .arg("--log.noColor=true");
    if variant == Variant::TrustingItsClients {
        command.arg("--entryPoints.web.forwardedHeaders.trustedIPs=127.0.0.1/32");
    }
    Process::spawn("traefik", command, &dir.join("traefik.log"))
}
