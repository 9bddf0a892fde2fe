//! The SOPS reader and writer against each other and against sops's format rules.

use super::*;

#[test]
fn a_file_reads_back_and_a_changed_one_does_not() {
    let id = age::x25519::Identity::generate();
    let values = vec![
        (
            "tailscale_auth_key".to_string(),
            "tskey-auth-abc".to_string(),
        ),
        ("other".to_string(), "x".to_string()),
    ];
    let text = encrypt(&values, &id.to_public(), "2026-12-05T02:00:00Z").unwrap();
    assert_eq!(decrypt(&text, &id).unwrap(), values);

    let first = text.lines().next().unwrap().split_once(": ").unwrap().1;
    let second = text.lines().nth(1).unwrap().split_once(": ").unwrap().1;
    let cases = [
        (
            "lastmodified changed",
            text.replace("2026-12-05T02:00:00Z", "2026-12-05T02:00:01Z"),
        ),
        (
            "values swapped",
            text.replacen(first, "@", 1)
                .replacen(second, first, 1)
                .replacen('@', second, 1),
        ),
        (
            "a value dropped",
            text.lines().skip(1).collect::<Vec<_>>().join("\n"),
        ),
        (
            "a value in plain text",
            text.replacen(first, "tskey-auth-abc", 1),
        ),
    ];
    for (name, changed) in cases {
        assert!(decrypt(&changed, &id).is_err(), "{name}");
    }
    let dropped = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(
        matches!(decrypt(&dropped, &id), Err(SopsError::Mac)),
        "a dropped value is a MAC mismatch"
    );
    let other = age::x25519::Identity::generate();
    let Err(SopsError::NotForKey { recipients, tried }) = decrypt(&text, &other) else {
        panic!("another key must not open it");
    };
    assert_eq!(recipients, [id.to_public().to_string()]);
    assert_eq!(tried, [other.to_public().to_string()]);
}

#[test]
fn nested_values_flatten_and_raw_round_trips() {
    let s = Secrets {
        format: Format::Yaml,
        tree: vec![
            ("a".into(), Plain::Str("x".into())),
            (
                "db".into(),
                Plain::Map(vec![
                    ("port".into(), Plain::Int("5432".into())),
                    ("tls".into(), Plain::Bool(true)),
                    (
                        "hosts".into(),
                        Plain::List(vec![Plain::Str("h1".into()), Plain::Str("h2".into())]),
                    ),
                ]),
            ),
        ],
    };
    let want: Vec<(String, String)> = [
        ("a", "x"),
        ("db.port", "5432"),
        ("db.tls", "true"),
        ("db.hosts.0", "h1"),
        ("db.hosts.1", "h2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(s.flat(), want);
    assert!(s.raw().contains("port: 5432"), "{}", s.raw());
    let json = Secrets {
        format: Format::Json,
        ..s
    };
    let back: serde_json::Value = serde_json::from_str(&json.raw()).unwrap();
    assert_eq!(back["db"]["port"], 5432);
    assert_eq!(back["db"]["tls"], true);
}

#[test]
fn key_files_parse_and_bad_lines_are_named_not_shown() {
    let id = age::x25519::Identity::generate();
    let secret = {
        use age::secrecy::ExposeSecret;
        id.to_string().expose_secret().to_string()
    };
    let text = format!("# created: now\n# public key: x\n\n{secret}\n");
    assert_eq!(parse_identities(&text).unwrap().len(), 1);
    let bad = format!("{secret}\nAGE-SECRET-KEY-1NOTAKEY\n");
    let Err(e) = parse_identities(&bad) else {
        panic!("a bad line must be refused");
    };
    let e = e.to_string();
    assert!(e.starts_with("line 2 "), "{e}");
    assert!(!e.contains("NOTAKEY"), "{e}");
}
