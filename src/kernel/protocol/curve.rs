//! CurveZMQ encryption of the kernel's channels, as jupyter_client 8.10 and
//! ipykernel 7.4 do it: a manager with `transport_encryption` writes
//! `curve_publickey` and `curve_secretkey` (Z85) into the connection file,
//! and the kernel binds every socket as a CURVE server with them. Clients
//! set `curve_serverkey` to the public key; one without it is not heard.

use anyhow::{Context, bail};
use serde::Deserialize;

/// The key fields of a connection file (jupyter-protocol's `ConnectionInfo` has none).
#[derive(Deserialize)]
struct KeyFields {
    curve_publickey: Option<String>,
    curve_secretkey: Option<String>,
}

/// The kernel's CurveZMQ key pair, as Z85 text.
pub struct Curve {
    public: String,
    secret: String,
}

impl Curve {
    /// The key pair in the connection file `text`, or `None` without keys
    /// (the channels are then unencrypted, as before). An error if only one
    /// key is given, a key is not 32 bytes in Z85, or libzmq lacks CURVE.
    pub fn from_connection_file(text: &str) -> anyhow::Result<Option<Self>> {
        let fields: KeyFields = serde_json::from_str(text)?;
        let (public, secret) = match (fields.curve_publickey, fields.curve_secretkey) {
            (None, None) => return Ok(None),
            (Some(public), Some(secret)) => (public, secret),
            _ => bail!(
                "the connection file has only one of curve_publickey and curve_secretkey: \
                 CurveZMQ needs both"
            ),
        };
        if zmq::has("curve") != Some(true) {
            bail!(
                "the connection file asks for CurveZMQ encryption, but this kernel's libzmq \
                 was built without CURVE (libsodium)"
            );
        }
        for (name, key) in [("curve_publickey", &public), ("curve_secretkey", &secret)] {
            let decoded = zmq::z85_decode(key)
                .ok()
                .with_context(|| format!("{name} in the connection file is not Z85 text"))?;
            if decoded.len() != 32 {
                bail!(
                    "{name} in the connection file is {} bytes, not a 32-byte CurveZMQ key",
                    decoded.len()
                );
            }
        }
        Ok(Some(Self { public, secret }))
    }

    /// Make `socket` a CURVE server with these keys (before it is bound), as ipykernel does.
    pub fn serve_on(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey(self.secret.as_bytes())?;
        socket.set_curve_publickey(self.public.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_both_or_none() {
        assert!(Curve::from_connection_file("{}").unwrap().is_none());
        let pair = zmq::CurveKeyPair::new().unwrap();
        let public = zmq::z85_encode(&pair.public_key).unwrap();
        let secret = zmq::z85_encode(&pair.secret_key).unwrap();
        let both = serde_json::json!({"curve_publickey": public, "curve_secretkey": secret});
        assert!(
            Curve::from_connection_file(&both.to_string())
                .unwrap()
                .is_some()
        );
        let one = serde_json::json!({ "curve_publickey": public });
        let err = Curve::from_connection_file(&one.to_string()).err().unwrap();
        assert!(err.to_string().contains("only one"), "{err}");
        let short = serde_json::json!({"curve_publickey": "abcde", "curve_secretkey": secret});
        let err = Curve::from_connection_file(&short.to_string())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a 32-byte"), "{err}");
    }
}
