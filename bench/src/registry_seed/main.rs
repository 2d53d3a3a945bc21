//! `registry-seed`: fixtures for the cosign benchmarks. `pki` writes a CA and a loopback
//! serving certificate for the bench's `docker-registry`; `push` pushes N small images, each
//! signed cosign-style by a fresh P-256 key, writes that key's public half (the trust root of
//! the bench's configuration) and prints one `REFERENCE DIGEST` line per image.

mod cosign;
mod pki;
mod registry;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

const USAGE: &str = "\
Usage: registry-seed pki --dir DIR
       registry-seed push --registry 127.0.0.1:PORT --ca CA.pem --public-key-out FILE
                          [--repository NAME] [--images N]

pki   writes ca.pem, server.crt and server.key (for 127.0.0.1 and localhost) into DIR.
push  pushes N images (tags v1..vN, default 1) to NAME (default bench/app) in the TLS registry,
      signs each with one new P-256 key in cosign's format (simple-signing payload, signature
      manifest at sha256-<hex>.sig), writes the public key PEM to FILE and prints
      'REFERENCE DIGEST' per image.
";

enum Command {
    Pki {
        dir: PathBuf,
    },
    Push {
        registry: SocketAddr,
        ca: PathBuf,
        public_key_out: PathBuf,
        repository: String,
        images: usize,
    },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (command, rest) = args.split_first().ok_or("missing command")?;
    let mut dir = None;
    let mut registry = None;
    let mut ca = None;
    let mut public_key_out = None;
    let mut repository = "bench/app".to_string();
    let mut images = 1usize;
    let mut iter = rest.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .ok_or_else(|| format!("option '{flag}' needs a value"))?;
        let invalid = || format!("invalid value '{value}' for '{flag}'");
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--registry" => registry = Some(value.parse().map_err(|_| invalid())?),
            "--ca" => ca = Some(PathBuf::from(value)),
            "--public-key-out" => public_key_out = Some(PathBuf::from(value)),
            "--repository" => repository = value.clone(),
            "--images" => images = value.parse().map_err(|_| invalid())?,
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    let missing = |flag: &str| format!("'{command}' needs {flag}");
    match command.as_str() {
        "pki" => Ok(Command::Pki {
            dir: dir.ok_or_else(|| missing("--dir"))?,
        }),
        "push" => Ok(Command::Push {
            registry: registry.ok_or_else(|| missing("--registry"))?,
            ca: ca.ok_or_else(|| missing("--ca"))?,
            public_key_out: public_key_out.ok_or_else(|| missing("--public-key-out"))?,
            repository,
            images,
        }),
        other => Err(format!("unknown command '{other}'")),
    }
}

fn trusting(ca: &Path) -> Result<Arc<ClientConfig>, String> {
    let why = |e: &dyn std::fmt::Display| format!("cannot use CA file '{}': {e}", ca.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| why(&e))? {
        roots.add(cert.map_err(|e| why(&e))?).map_err(|e| why(&e))?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Pki { dir } => {
            let pki = pki::generate().map_err(|e| e.to_string())?;
            pki::write(&pki, &dir).map_err(|e| e.to_string())
        }
        Command::Push {
            registry,
            ca,
            public_key_out,
            repository,
            images,
        } => {
            let registry = registry::Registry::new(registry, trusting(&ca)?);
            let signer = cosign::Signer::generate().map_err(|e| e.to_string())?;
            std::fs::write(&public_key_out, &signer.public_key_pem)
                .map_err(|e| format!("cannot write '{}': {e}", public_key_out.display()))?;
            for n in 1..=images {
                let (reference, digest) = registry
                    .push_signed_image(&repository, &format!("v{n}"), &signer)
                    .map_err(|e| e.to_string())?;
                println!("{reference} {digest}");
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("registry-seed: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-seed: {e}");
            ExitCode::FAILURE
        }
    }
}
