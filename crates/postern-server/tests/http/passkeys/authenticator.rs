//! A software authenticator for the HTTP tests: a P-256 key (ring) per credential, the
//! `none` attestation, and assertions signed as a CTAP2 authenticator signs them. Its CBOR is
//! the few shapes WebAuthn needs, written here on purpose: postern must read what an
//! authenticator sends, so the test must not borrow postern's (the library's) own encoder.
//! Every field can be bent: the origin, the rp id, the counter, the flags.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub struct SoftAuthenticator {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The signature counter the next assertion carries (then incremented).
    pub counter: u32,
    /// The user handle of the registration, sent back in assertions (discoverable).
    pub user_handle: Option<Vec<u8>>,
    /// The origin the browser would write into clientDataJSON.
    pub origin: String,
    /// The rp id whose hash goes into authenticatorData.
    pub rp_id: String,
    /// Whether the authenticator says it verified the user (PIN, biometrics).
    pub verifies_user: bool,
}

impl SoftAuthenticator {
    pub fn new(origin: &str, rp_id: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self {
            key,
            credential_id: ring_random::<32>(),
            counter: 1,
            user_handle: None,
            origin: origin.to_owned(),
            rp_id: rp_id.to_owned(),
            verifies_user: true,
        }
    }

    /// The browser's answer to `navigator.credentials.create(options)`.
    pub fn register(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().unwrap();
        self.user_handle = Some(unb64(public_key["user"]["id"].as_str().unwrap()));
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth_data = self.auth_data_head(AT);
        auth_data.extend_from_slice(&[0; 16]); // aaguid
        auth_data.extend_from_slice(
            &u16::try_from(self.credential_id.len())
                .unwrap()
                .to_be_bytes(),
        );
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut attestation = Vec::new();
        cbor_map_header(&mut attestation, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_map_header(&mut attestation, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        self.counter += 1;
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
            },
            "clientExtensionResults": {},
        })
    }

    /// The browser's answer to `navigator.credentials.get(options)`.
    pub fn assert(&mut self, options: &Value) -> Value {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data_head(0);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        self.counter += 1;
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": self.user_handle.as_deref().map(b64),
            },
            "clientExtensionResults": {},
        })
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// rpIdHash, flags (UP, UV when it verifies, plus `extra`), counter.
    fn auth_data_head(&self, extra: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let uv = if self.verifies_user { UV } else { 0 };
        data.push(UP | uv | extra);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// The COSE_Key of the public key: EC2, ES256, P-256, x, y.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        let mut key = Vec::new();
        cbor_map_header(&mut key, 5);
        cbor_int(&mut key, 1);
        cbor_int(&mut key, 2);
        cbor_int(&mut key, 3);
        cbor_int(&mut key, -7);
        cbor_int(&mut key, -1);
        cbor_int(&mut key, 1);
        cbor_int(&mut key, -2);
        cbor_bytes(&mut key, x);
        cbor_int(&mut key, -3);
        cbor_bytes(&mut key, y);
        key
    }
}

fn ring_random<const N: usize>() -> Vec<u8> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    bytes.to_vec()
}

fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        cbor_head(out, 0, value as u64);
    } else {
        cbor_head(out, 1, (-1 - value) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn cbor_map_header(out: &mut Vec<u8>, entries: u64) {
    cbor_head(out, 5, entries);
}
