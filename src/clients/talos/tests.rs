//! Client tests over a scripted apid: a gRPC server on a free loopback port, with a CA and
//! certificates made here, answering `EtcdMemberList` (which the lab does not serve) as
//! <https://github.com/siderolabs/talos/blob/main/api/machine/machine.proto> shapes it; and
//! the pure parts (talosconfig, kubeconfig archive).

use std::convert::Infallible;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use super::proto::common::Metadata;
use super::proto::etcd::{
    EtcdMember as WireMember, EtcdMemberListRequest, EtcdMemberListResponse, EtcdMembers,
};
use super::proto::google::rpc::Status as RpcStatus;
use super::*;
use crate::clients::ErrorKind;

/// A CA, a server certificate for 127.0.0.1 and an `os:admin` client certificate, all
/// Ed25519 as Talos makes them.
struct Pki {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    client: Credentials,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ca key");
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "talos");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |org: &str, server: bool| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, org);
        p.distinguished_name = dn;
        if server {
            p.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = p.signed_by(&key, &issuer).expect("leaf");
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key_pem) = leaf("", true);
    let (client_pem, client_key) = leaf("os:admin", false);
    Pki {
        ca_pem: ca_pem.clone(),
        server_pem,
        server_key_pem,
        client: Credentials {
            ca_pem,
            crt_pem: client_pem,
            // Talos's label for the PKCS#8 body.
            key_pem: client_key.replace("PRIVATE KEY", "ED25519 PRIVATE KEY"),
        },
    }
}

/// A scripted apid: answers `EtcdMemberList` with `reply(node header)` and records the
/// `node` header of each call.
async fn scripted_apid(
    pki: &Pki,
    reply: fn(Option<&str>) -> EtcdMemberListResponse,
) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("ca"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(pki.server_pem.as_bytes()).expect("cert")],
            PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).expect("key"),
        )
        .expect("server config");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let nodes = Arc::new(Mutex::new(Vec::new()));
    let seen = nodes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let answer = tower::service_fn(
                                move |r: tonic::Request<EtcdMemberListRequest>| {
                                    let node = r
                                        .metadata()
                                        .get("node")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string);
                                    seen.lock().expect("lock").push(node.clone());
                                    async move {
                                        Ok::<_, tonic::Status>(tonic::Response::new(reply(
                                            node.as_deref(),
                                        )))
                                    }
                                },
                            );
                            let codec: tonic_prost::ProstCodec<
                                EtcdMemberListResponse,
                                EtcdMemberListRequest,
                            > = tonic_prost::ProstCodec::default();
                            let mut grpc = tonic::server::Grpc::new(codec);
                            Ok::<_, Infallible>(grpc.unary(answer, req).await)
                        }
                    });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
            });
        }
    });
    (addr, nodes)
}

fn call() -> Call {
    Call::new(&CancellationToken::new(), Duration::from_secs(10))
}

/// Two members on a control plane; on node `worker`, the failure a worker reports
/// (`member list is only available on control plane nodes`, Unimplemented) in the reply's
/// metadata, as apid relays a proxied node's error.
fn members(node: Option<&str>) -> EtcdMemberListResponse {
    if node == Some("worker") {
        return EtcdMemberListResponse {
            messages: vec![EtcdMembers {
                metadata: Some(Metadata {
                    hostname: "worker".into(),
                    error: "rpc error: code = Unimplemented desc = member list is only \
                            available on control plane nodes"
                        .into(),
                    status: Some(RpcStatus {
                        code: tonic::Code::Unimplemented as i32,
                        message: "member list is only available on control plane nodes".into(),
                        details: Vec::new(),
                    }),
                }),
                ..Default::default()
            }],
        };
    }
    let member = |id: u64, name: &str, ip: &str| WireMember {
        id,
        hostname: name.into(),
        peer_urls: vec![format!("https://{ip}:2380")],
        client_urls: vec![format!("https://{ip}:2379")],
        is_learner: false,
    };
    EtcdMemberListResponse {
        messages: vec![EtcdMembers {
            metadata: None,
            legacy_members: Vec::new(),
            members: vec![
                member(0x4f3fb4c33808229a, "cp1", "10.0.0.2"),
                member(0x5225cca9d46339f4, "cp2", "10.0.0.3"),
            ],
        }],
    }
}

#[tokio::test]
async fn etcd_members_are_listed_on_the_node_named() {
    let pki = pki();
    let (addr, nodes) = scripted_apid(&pki, members).await;
    let client = Client::new(&addr.to_string(), &pki.client).expect("client");

    let list = client.etcd_member_list(&call()).await.expect("members");
    let names: Vec<&str> = list.iter().map(|m| m.hostname.as_str()).collect();
    assert_eq!(names, ["cp1", "cp2"]);
    assert_eq!(list[0].id, 0x4f3fb4c33808229a);
    assert_eq!(list[1].peer_urls, ["https://10.0.0.3:2380"]);
    assert!(!list[0].is_learner);

    let cp2 = client.with_node("10.0.0.3").expect("node");
    cp2.etcd_member_list(&call())
        .await
        .expect("members via cp2");
    assert_eq!(
        *nodes.lock().expect("lock"),
        [None, Some("10.0.0.3".to_string())],
        "the node header goes only where asked"
    );
}

#[tokio::test]
async fn a_node_error_in_reply_metadata_is_classified_by_its_code() {
    let pki = pki();
    let (addr, _) = scripted_apid(&pki, members).await;
    let client = Client::new(&addr.to_string(), &pki.client)
        .expect("client")
        .with_node("worker")
        .expect("node");
    let e = client
        .etcd_member_list(&call())
        .await
        .expect_err("a worker");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(e.code(), Some(tonic::Code::Unimplemented));
    assert!(
        e.to_string()
            .contains("node worker: member list is only available on control plane nodes"),
        "{e}"
    );
}

#[test]
fn talosconfig_contexts_are_read_as_talosctl_writes_them() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let yaml = format!(
        "context: lab\ncontexts:\n  lab:\n    endpoints: [10.0.0.2, 10.0.0.3]\n    nodes: \
         [10.0.0.2]\n    ca: {}\n    crt: {}\n    key: {}\n  other:\n    endpoints: []\n",
        b64("CA"),
        b64("CRT"),
        b64("KEY")
    );
    let ctx = TalosContext::from_talosconfig(&yaml, None).expect("context");
    assert_eq!(ctx.name, "lab");
    assert_eq!(ctx.endpoints, ["10.0.0.2", "10.0.0.3"]);
    assert_eq!(ctx.nodes, ["10.0.0.2"]);
    assert_eq!(
        (
            ctx.credentials.ca_pem.as_str(),
            ctx.credentials.crt_pem.as_str(),
            ctx.credentials.key_pem.as_str()
        ),
        ("CA", "CRT", "KEY")
    );
    assert!(
        !format!("{ctx:?}").contains("KEY\""),
        "the key never prints"
    );

    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "missing context",
            &yaml,
            Some("prod"),
            "no context named 'prod'",
        ),
        ("no credentials", &yaml, Some("other"), "has no ca"),
        (
            "no current context",
            "contexts: {}\n",
            None,
            "no current context",
        ),
        ("not yaml", "[", None, "not valid YAML"),
    ];
    for (name, text, ctx, hint) in cases {
        let e = TalosContext::from_talosconfig(text, *ctx).expect_err(name);
        assert_eq!(e.kind(), ErrorKind::Fatal, "{name}");
        assert!(e.to_string().contains(hint), "{name}: {e}");
    }
}

fn archive(entries: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, text) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o600);
        tar.append_data(&mut h, name, text.as_bytes())
            .expect("append");
    }
    let mut gz = tar.into_inner().expect("tar");
    gz.flush().expect("flush");
    gz.finish().expect("gzip")
}

#[test]
fn the_kubeconfig_is_unpacked_from_apids_archive() {
    let cases: &[(&str, Vec<u8>, Result<&str, &str>)] = &[
        (
            "as talos sends it",
            archive(&[("kubeconfig", "apiVersion: v1\n")]),
            Ok("apiVersion: v1\n"),
        ),
        ("dot-slash name", archive(&[("./kubeconfig", "x")]), Ok("x")),
        (
            "other files only",
            archive(&[("talosconfig", "x")]),
            Err("no file named kubeconfig"),
        ),
        ("not gzip", b"plain".to_vec(), Err("")),
    ];
    for (name, bytes, want) in cases {
        match (extract_kubeconfig(bytes), want) {
            (Ok(text), Ok(w)) => assert_eq!(text, *w, "{name}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{name}: {e}"),
            (got, _) => panic!("{name}: {got:?}"),
        }
    }
}

#[tokio::test]
async fn settings_are_checked_before_any_call() {
    let pki = pki();
    let mut bad_key = pki.client.clone();
    bad_key.key_pem = "not a key".into();
    let mut bad_ca = pki.client.clone();
    bad_ca.ca_pem = String::new();
    let cases: &[(&str, &str, &Credentials, &str)] = &[
        ("bad endpoint", "10.0.0.2:http", &pki.client, "HOST:PORT"),
        ("bad key", "10.0.0.2", &bad_key, "not a PEM private key"),
        ("no ca", "10.0.0.2", &bad_ca, "no PEM certificate"),
    ];
    for (name, endpoint, creds, hint) in cases {
        let e = Client::new(endpoint, creds).expect_err(name);
        assert_eq!(e.kind(), ErrorKind::Fatal, "{name}");
        assert!(e.to_string().contains(hint), "{name}: {e}");
    }
    assert!(Client::new("10.0.0.2", &pki.client)
        .expect("client")
        .with_node(" ")
        .is_err());
}

#[test]
fn clients_are_made_inside_a_runtime_only() {
    let e = MaintenanceClient::new("10.0.0.2").expect_err("no runtime");
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}
