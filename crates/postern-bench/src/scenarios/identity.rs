//! c3) The valid-cookie check with `[identity_token]` on: the seeded postern of row c, plus a
//! P-256 key (what `postern oidc generate-key` makes) and `header = "Remote-Jwt"`, so every
//! allowed answer carries a signed token. The token is signed once per user, app and second
//! and reused. Its runs alternate with row c's (`against_c`): the targets are ≥ 0.85× c's
//! throughput (issue #17) and ≤ 5 % more CPU per check (issue #13).
//!
//! c3u) The same with the sessions spread over `INTERLEAVED_USERS` users in turn, so
//! consecutive requests are different users'. Row c3's checks are all one user's, which each
//! worker thread's last token answers; here most checks miss it (the server takes the
//! connections' requests in the order they become ready) and read the token cache's table.
//! No target: it says what the token costs a proxy in front of many users.

use postern_bench::{BENCH_USER, StoreChoice, config_toml};

use super::{Bench, Paired, loopback};
use crate::report::Row;

/// How many users row c3u interleaves (its title says so too): more than one, so consecutive
/// requests are different users'.
const INTERLEAVED_USERS: usize = 8;

impl Bench<'_> {
    pub(super) fn identity_token_rows(&mut self, rows: &mut Vec<Row>, against_c: &Paired) {
        for (key, title, users) in [
            (
                "c3",
                "postern, valid cookie, identity_token on (ES256 Remote-Jwt)",
                Vec::new(),
            ),
            (
                "c3u",
                "postern, valid cookie, identity_token on, 8 users' checks interleaved",
                interleaved_users(),
            ),
        ] {
            if self.wants(key) {
                self.identity_token_row(rows, against_c.clone(), (key, title), &users);
            }
        }
    }

    fn identity_token_row(
        &mut self,
        rows: &mut Vec<Row>,
        against_c: Paired,
        (key, title): (&'static str, &'static str),
        users: &[String],
    ) {
        let key_file = match postern_core::oidc::keys::generate_p256_pem() {
            Ok(pem) => self.dir.write(&format!("identity-key-{key}.pem"), &pem),
            Err(err) => {
                rows.push(Row::failed(key, title, format!("no key: {err}")));
                return;
            }
        };
        let addr = loopback(postern_testkit::free_port());
        // The bench user is in every config; the others get the same fields, so every
        // user's token is the same size.
        let others: String = users
            .iter()
            .filter(|name| *name != BENCH_USER)
            .map(|name| {
                format!(
                    "[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\n\
                     email = \"{name}@example.com\"\ndisplay_name = \"Bench User\"\n\
                     groups = [\"admins\"]\n\n",
                    postern_bench::PASSWORD_HASH
                )
            })
            .collect();
        let config = format!(
            "{}\n{others}[oidc]\nsigning_keys = [{:?}]\n\n[identity_token]\nheader = \"Remote-Jwt\"\n",
            config_toml(&addr.to_string(), &StoreChoice::Memory, 0),
            key_file.display().to_string()
        );
        let name = format!("postern-identity-{key}");
        let (mut server, cookies) = match self.seeded_as(&name, addr, &config, users) {
            Ok(started) => started,
            Err(err) => {
                rows.push(Row::failed(
                    key,
                    title,
                    format!("postern with identity_token did not start: {err:#}"),
                ));
                return;
            }
        };
        self.row_against(against_c, rows, (key, title), (addr, &cookies), &mut server);
    }
}

/// The bench user and `INTERLEAVED_USERS - 1` more, in the order their sessions are seeded.
fn interleaved_users() -> Vec<String> {
    std::iter::once(BENCH_USER.to_owned())
        .chain((1..INTERLEAVED_USERS).map(|i| format!("{BENCH_USER}{i}")))
        .collect()
}
