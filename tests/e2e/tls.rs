//! TLS and mTLS with certificates made at run time (rcgen): a TLS server and an mTLS server,
//! the CLI and the client library through them, and each failure saying which it is:
//! plaintext to a TLS server, a wrong CA, a missing client certificate, a client certificate
//! from another CA, TLS to a plaintext server, and unusable certificate files at start-up.

use std::path::{Path, PathBuf};

use dataport_client::{TlsOptions, v1};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::harness::{self, TestServer, stdout};

/// A CA and what it signed, as PEM files in a directory.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// A CA named `name` with a server certificate for localhost/127.0.0.1 and a client
/// certificate, written under `dir` with `name` as prefix.
fn pki(dir: &Path, name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["crm-backend".to_owned()]).unwrap();
    client.distinguished_name.push(DnType::CommonName, "crm-backend");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca: write(dir, &format!("{name}-ca.pem"), &ca_cert.pem()),
        server_cert: write(dir, &format!("{name}-server.pem"), &server_cert.pem()),
        server_key: write(dir, &format!("{name}-server.key"), &server_key.serialize_pem()),
        client_cert: write(dir, &format!("{name}-client.pem"), &client_cert.pem()),
        client_key: write(dir, &format!("{name}-client.key"), &client_key.serialize_pem()),
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn https(server: &TestServer) -> String {
    format!("https://localhost:{}", server.addr.port())
}

fn trusting(ca: &Path) -> TlsOptions {
    TlsOptions {
        ca: Some(ca.to_path_buf()),
        ..TlsOptions::default()
    }
}

async fn connect_error(url: &str, tls: &TlsOptions, token: &str) -> String {
    match dataport_client::connect_with(url, token, tls).await {
        Err(e) => e.to_string(),
        Ok(mut client) => match client
            .count_records(crate::import::count_request(dataport_core::Module::Customers))
            .await
        {
            Err(status) => {
                let hint =
                    dataport_client::status_hint(&status, url.starts_with("https://"), tls.cert.is_some())
                        .unwrap_or_default();
                format!("{}; {hint} ({status:?})", status.message())
            }
            Ok(_) => panic!("{url} answered although it should not"),
        },
    }
}

#[tokio::test]
async fn a_tls_server_answers_https_clients_and_refuses_the_rest_with_a_reason() {
    let certs = tempfile::tempdir().unwrap();
    let good = pki(certs.path(), "good");
    let other = pki(certs.path(), "other");
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        &[
            "--tls-cert",
            arg(&good.server_cert),
            "--tls-key",
            arg(&good.server_key),
        ],
    );
    assert!(
        server.banner.iter().any(|l| l.contains("; TLS)")),
        "{:?}",
        server.banner
    );
    let token = server.admin_token();

    // The library and the CLI, trusting the CA.
    let mut client = dataport_client::connect_with(&https(&server), &token, &trusting(&good.ca))
        .await
        .expect("TLS connect");
    let count = client
        .count_records(crate::import::count_request(dataport_core::Module::Customers))
        .await
        .expect("a call over TLS")
        .into_inner();
    assert_eq!(count.count, 0);
    let out = server.cli(&[
        "count",
        "--module",
        "customers",
        "--server",
        &https(&server),
        "--tls-ca",
        arg(&good.ca),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), harness::stderr(&out));
    assert!(stdout(&out).contains("共0条"), "{}", stdout(&out));

    // Plaintext to the TLS port.
    let plain = connect_error(
        &format!("http://localhost:{}", server.addr.port()),
        &TlsOptions::default(),
        &token,
    )
    .await;
    assert!(
        plain.contains("the server may require TLS: use an https:// address"),
        "{plain}"
    );
    // A CA that did not sign the server's certificate (and no CA: the system roots do not either).
    let wrong = connect_error(&https(&server), &trusting(&other.ca), &token).await;
    assert!(
        wrong.contains("not signed by a CA this client trusts: pass the CA that signed it with --tls-ca"),
        "{wrong}"
    );
    let out = server.cli(&["count", "--module", "customers", "--server", &https(&server)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        harness::stderr(&out).contains("--tls-ca"),
        "{}",
        harness::stderr(&out)
    );
    // TLS files with an http:// address are refused, not ignored.
    let ignored = connect_error(
        &format!("http://localhost:{}", server.addr.port()),
        &trusting(&good.ca),
        &token,
    )
    .await;
    assert!(ignored.contains("never encrypted; use https://"), "{ignored}");
    // The token is still required over TLS.
    let no_token = connect_error(&https(&server), &trusting(&good.ca), "dp_wrong").await;
    assert!(no_token.contains("unknown or revoked API token"), "{no_token}");

    // TLS to a plaintext server.
    let plaintext = TestServer::start_in(tempfile::tempdir().unwrap(), &[]);
    let mismatch = connect_error(&https(&plaintext), &trusting(&good.ca), &plaintext.admin_token()).await;
    assert!(
        mismatch.contains("does not speak TLS there: use an http:// address"),
        "{mismatch}"
    );
}

#[tokio::test]
async fn an_mtls_server_requires_a_client_certificate_from_its_ca() {
    let certs = tempfile::tempdir().unwrap();
    let good = pki(certs.path(), "good");
    let other = pki(certs.path(), "other");
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        &[
            "--tls-cert",
            arg(&good.server_cert),
            "--tls-key",
            arg(&good.server_key),
            "--tls-client-ca",
            arg(&good.ca),
        ],
    );
    assert!(
        server.banner.iter().any(|l| l.contains("; mTLS)")),
        "{:?}",
        server.banner
    );
    let token = server.admin_token();
    let with_cert = |pki: &Pki| TlsOptions {
        ca: Some(good.ca.clone()),
        cert: Some(pki.client_cert.clone()),
        key: Some(pki.client_key.clone()),
    };

    let mut client = dataport_client::connect_with(&https(&server), &token, &with_cert(&good))
        .await
        .expect("mTLS connect");
    client
        .count_records(crate::import::count_request(dataport_core::Module::Customers))
        .await
        .expect("a call over mTLS");
    let out = server.cli(&[
        "count",
        "--module",
        "customers",
        "--server",
        &https(&server),
        "--tls-ca",
        arg(&good.ca),
        "--tls-cert",
        arg(&good.client_cert),
        "--tls-key",
        arg(&good.client_key),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), harness::stderr(&out));

    let missing = connect_error(&https(&server), &trusting(&good.ca), &token).await;
    assert!(missing.contains("client certificate"), "{missing}");
    // The server's alert names the missing certificate; when the connection closes before
    // the client reads it (TLS 1.3, a busy machine), the hint still says what to pass.
    assert!(
        missing.contains("(mTLS): pass --tls-cert and --tls-key")
            || missing
                .contains("if the server requires client certificates (mTLS), pass --tls-cert and --tls-key"),
        "{missing}"
    );
    let out = server.cli(&[
        "count",
        "--module",
        "customers",
        "--server",
        &https(&server),
        "--tls-ca",
        arg(&good.ca),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        harness::stderr(&out).contains("--tls-cert and --tls-key"),
        "{}",
        harness::stderr(&out)
    );
    let foreign = connect_error(&https(&server), &with_cert(&other), &token).await;
    assert!(foreign.contains("refused this client certificate"), "{foreign}");

    // A client certificate alone is not enough: the token is still checked.
    let mut anonymous = dataport_client::connect_with(&https(&server), "dp_nobody", &with_cert(&good))
        .await
        .unwrap();
    let status = anonymous
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[test]
fn unusable_certificate_files_stop_the_server_at_start_up_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = pki(dir.path(), "good");
    let junk = write(dir.path(), "junk.pem", "not a certificate\n");
    for (args, expected) in [
        (vec!["--tls-cert", arg(&good.server_cert)], "--tls-key".to_owned()),
        (
            vec!["--tls-cert", arg(&junk), "--tls-key", arg(&good.server_key)],
            format!("--tls-cert {} is not a PEM file", junk.display()),
        ),
        (
            vec![
                "--tls-cert",
                arg(&good.server_cert),
                "--tls-key",
                "/nonexistent/key.pem",
            ],
            "cannot read --tls-key /nonexistent/key.pem".to_owned(),
        ),
        (
            // A key that is not the certificate's.
            vec![
                "--tls-cert",
                arg(&good.server_cert),
                "--tls-key",
                arg(&good.client_key),
            ],
            "cannot be used".to_owned(),
        ),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend(args.iter().copied());
        let out = harness::run_cli(dir.path(), &all);
        assert_ne!(out.status.code(), Some(0), "{args:?} started");
        let err = harness::stderr(&out);
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
}
