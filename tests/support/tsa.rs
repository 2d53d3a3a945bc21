//! A real Time-Stamping Authority for tests: OpenSSL's `openssl ts` answering RFC 3161
//! requests with a TSA certificate (critical, sole `timeStamping` EKU, as RFC 3161 §2.3
//! wants) issued by its own root CA, all made by `openssl` in a temporary directory.
//! `openssl ts -verify` cross-checks each token it issues, so the tokens the tests feed
//! tastevin are valid by an independent implementation's judgement.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::TempDir;

/// A TSA root and its signing certificate, ready to stamp.
pub struct Tsa {
    dir: TempDir,
    /// The root CA, to configure as a trust root's `tsCert`.
    pub root_pem: String,
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

impl Tsa {
    /// `key` is an `openssl req -newkey` argument: `ec` (P-256) or `rsa:2048`.
    pub fn new(key: &str) -> Tsa {
        let dir = TempDir::new();
        let path = dir.path();
        fs::write(
            path.join("ext.cnf"),
            "[tsa_ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .expect("write ext.cnf");
        fs::write(
            path.join("ts.cnf"),
            format!(
                "[tsa_config]\nserial = {}\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\ness_cert_id_alg = sha256\ness_cert_id_chain = no\ncrypto_device = builtin\nordering = no\ntsa_name = no\n",
                path.join("serial").display()
            ),
        )
        .expect("write ts.cnf");
        fs::write(path.join("serial"), "01\n").expect("write serial");
        let curve: &[&str] = if key == "ec" {
            &["-pkeyopt", "ec_paramgen_curve:P-256"]
        } else {
            &[]
        };
        let mut root = vec!["req", "-x509", "-newkey", key];
        root.extend_from_slice(curve);
        root.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.crt",
            "-subj",
            "/CN=tastevin test TSA root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(path, &root);
        let mut request = vec!["req", "-newkey", key];
        request.extend_from_slice(curve);
        request.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=tastevin test TSA",
        ]);
        openssl(path, &request);
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.crt",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-out",
                "tsa.crt",
                "-days",
                "365",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "tsa_ext",
            ],
        );
        let root_pem = fs::read_to_string(path.join("root.crt")).expect("read root.crt");
        Tsa { dir, root_pem }
    }

    /// A time-stamp token (DER `ContentInfo`) over `data` with the `digest` imprint
    /// (`sha256`, `sha384`, `sha512`), certificate included, checked by `openssl ts -verify`.
    pub fn stamp(&self, data: &[u8], digest: &str) -> Vec<u8> {
        self.answer(data, digest, true)
    }

    /// The whole time-stamp response (DER `TimeStampResp`, status granted) over `data` with a
    /// SHA-256 imprint, as Sigstore bundles store it.
    pub fn response(&self, data: &[u8]) -> Vec<u8> {
        self.answer(data, "sha256", false)
    }

    /// The PEM certificate the TSA signs with.
    pub fn signer_pem(&self) -> String {
        fs::read_to_string(self.dir.path().join("tsa.crt")).expect("read tsa.crt")
    }

    fn answer(&self, data: &[u8], digest: &str, token_only: bool) -> Vec<u8> {
        let path = self.dir.path();
        fs::write(path.join("data.bin"), data).expect("write data");
        let flag = format!("-{digest}");
        openssl(
            path,
            &[
                "ts", "-query", "-data", "data.bin", &flag, "-cert", "-out", "q.tsq",
            ],
        );
        let mut reply = vec![
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-section",
            "tsa_config",
            "-queryfile",
            "q.tsq",
            "-inkey",
            "tsa.key",
            "-signer",
            "tsa.crt",
            "-out",
            "answer.der",
        ];
        let mut verify = vec![
            "ts",
            "-verify",
            "-data",
            "data.bin",
            "-in",
            "answer.der",
            "-CAfile",
            "root.crt",
            "-untrusted",
            "tsa.crt",
        ];
        if token_only {
            reply.push("-token_out");
            verify.push("-token_in");
        }
        openssl(path, &reply);
        openssl(path, &verify);
        fs::read(path.join("answer.der")).expect("read the answer")
    }
}
