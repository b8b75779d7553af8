//! c3) The valid-cookie check with `[identity_token]` on: the seeded postern of row c, plus a
//! P-256 key (what `postern oidc generate-key` makes) and `header = "Remote-Jwt"`, so every
//! allowed answer carries a signed token. The token is signed once per user, app and second
//! and reused. Its runs alternate with row c's (`against_c`): the targets are ≥ 0.85× c's
//! throughput (issue #17) and ≤ 5 % more CPU per check (issue #13).

use postern_bench::{StoreChoice, config_toml};

use super::{Bench, Paired, loopback};
use crate::report::Row;

impl Bench<'_> {
    pub(super) fn identity_token_rows(&mut self, rows: &mut Vec<Row>, against_c: Paired) {
        if !self.wants("c3") {
            return;
        }
        let key = match postern_core::oidc::keys::generate_p256_pem() {
            Ok(pem) => self.dir.write("identity-key.pem", &pem),
            Err(err) => {
                self.note(&format!("c3) no key: {err}"));
                return;
            }
        };
        let addr = loopback(postern_testkit::free_port());
        let config = format!(
            "{}\n[oidc]\nsigning_keys = [{:?}]\n\n[identity_token]\nheader = \"Remote-Jwt\"\n",
            config_toml(&addr.to_string(), &StoreChoice::Memory, 0),
            key.display().to_string()
        );
        let (mut server, cookies) = match self.seeded_with("postern-identity", addr, &config) {
            Ok(started) => started,
            Err(err) => {
                self.note(&format!(
                    "c3) postern with identity_token did not start: {err:#}"
                ));
                return;
            }
        };
        self.row_against(
            against_c,
            rows,
            (
                "c3",
                "postern, valid cookie, identity_token on (ES256 Remote-Jwt)",
            ),
            (addr, &cookies),
            &mut server,
        );
    }
}
